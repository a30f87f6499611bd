package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/store"
)

// Two reads of the same row in one batch record what two batches of one record: one
// rejected entry per sync, key and reason (last seen moving, latest detail), and one
// refused change per person, sync, row key, attribute, value and reason.
func TestRecordedOnceWithinABatch(t *testing.T) {
	forEachStore(t, func(t *testing.T, driver, dsn string) {
		st := open(t, driver, dsn)
		ctx := context.Background()
		refused := func(at int64, key, value string) *record.Record {
			return &record.Record{Key: key, Outcome: record.Outcome{Result: record.Unchanged, Person: "p1", Changes: []record.Change{{
				Time: at, Sync: "s", RowKey: key, CioID: "p1", Kind: record.FailedAttributeChange,
				Attribute: "email", To: json.RawMessage(`"` + value + `"`), Reason: identity.ReasonInvalidEmail}}}}
		}
		rejected := func(key, detail string) *record.Record {
			r := &record.Record{Key: key}
			r.Reject(identity.ReasonNoIdentifier, detail)
			return r
		}
		write := func(at int64, recs ...*record.Record) {
			t.Helper()
			if err := st.InTx(ctx, func(tx *store.Tx) error { return tx.Write(ctx, "s", at, recs, nil) }); err != nil {
				t.Fatal(err)
			}
		}
		write(10, refused(10, "k1", "bad"), rejected("k2", "a"), refused(10, "k1", "bad"), rejected("", "b"), refused(10, "k1", "worse"),
			rejected("k2", "c"), refused(10, "", "bad"), rejected("", "d"), refused(10, "", "bad"))
		write(20, refused(20, "k1", "bad"), rejected("k2", "e"), refused(20, "k3", "bad"))
		var got []string
		st.EachChange(ctx, func(c record.Change) error {
			got = append(got, fmt.Sprintf("%d %s %s", c.Time, c.RowKey, c.To))
			return nil
		})
		if want := `10 k1 "bad"|10 k1 "worse"|10  "bad"|20 k3 "bad"`; strings.Join(got, "|") != want {
			t.Fatalf("change log = %q, want %s", got, want)
		}
		got = got[:0]
		st.EachRejected(ctx, "s", 0, func(r store.Rejection) error {
			got = append(got, fmt.Sprintf("%d-%d %s %s", r.Time, r.LastSeen, r.Key, r.Detail))
			return nil
		})
		if want := `10-20 k2 e|10-10  d`; strings.Join(got, "|") != want {
			t.Fatalf("rejected = %q, want %s", got, want)
		}
	})
}
