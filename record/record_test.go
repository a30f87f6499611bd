package record

import (
	"bytes"
	"encoding/json"
	"testing"
)

// Sum tells apart rows that differ in anything mapping made of them or in their
// cursor, and only those: a lookback takes rows with the same sum for re-reads of a
// row that did not change (SPEC §3).
func TestSumTellsRowsApart(t *testing.T) {
	base := func() *Record {
		return &Record{Key: "k1", CioID: "c", ID: "u1", Email: "u1@x.io",
			Attrs:    []Attr{{Name: "plan", Value: json.RawMessage(`"pro"`)}, {Name: "gone"}},
			ObjectID: "A", EventID: "e1", EventName: "purchase", Timestamp: 5, HasTimestamp: true,
			Data: json.RawMessage(`{"a":1}`)}
	}
	const cursor = `{"value":{"t":"time","v":"2026-01-01T00:00:00Z"},"key":{"t":"int","v":"1"}}`
	want := base().Sum(cursor)
	same := base()
	same.Outcome = Outcome{Result: Updated, Reason: "x", Person: "p"} // the outcome is no part of the row
	same.Digest, same.At = []byte{1}, 7
	if !bytes.Equal(same.Sum(cursor), want) {
		t.Fatal("the same row sums differently")
	}
	for name, change := range map[string]func(r *Record){
		"key":           func(r *Record) { r.Key = "k2" },
		"cio_id":        func(r *Record) { r.CioID = "" },
		"id":            func(r *Record) { r.ID = "U1" },
		"email":         func(r *Record) { r.Email = "u2@x.io" },
		"value":         func(r *Record) { r.Attrs[0].Value = json.RawMessage(`"free"`) },
		"name":          func(r *Record) { r.Attrs[0].Name = "tier" },
		"unset as text": func(r *Record) { r.Attrs[1].Value = json.RawMessage(``) },
		"attribute":     func(r *Record) { r.Attrs = r.Attrs[:1] },
		"order":         func(r *Record) { r.Attrs[0], r.Attrs[1] = r.Attrs[1], r.Attrs[0] },
		"boundary":      func(r *Record) { r.ID, r.Email = "u1u1@x.io", "" },
		"object_id":     func(r *Record) { r.ObjectID = "B" },
		"remove":        func(r *Record) { r.Remove = true },
		"delete":        func(r *Record) { r.Delete = true },
		"suppress":      func(r *Record) { r.Suppress = true },
		"event_id":      func(r *Record) { r.EventID = "e2" },
		"event name":    func(r *Record) { r.EventName = "refund" },
		"timestamp":     func(r *Record) { r.Timestamp = 6 },
		"no timestamp":  func(r *Record) { r.HasTimestamp = false },
		"data":          func(r *Record) { r.Data = json.RawMessage(`{"a":2}`) },
		"no data":       func(r *Record) { r.Data = nil },
	} {
		r := base()
		change(r)
		if bytes.Equal(r.Sum(cursor), want) {
			t.Errorf("a change of %s sums alike", name)
		}
	}
	if bytes.Equal(base().Sum(`{"value":{"t":"time","v":"2026-01-01T00:00:01Z"}}`), want) {
		t.Error("a change of the cursor sums alike")
	}
}
