package store

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

// FuzzDecodeAttributes: decodeAttributes gives what json.Unmarshal gives, for any
// text: the same map, or an error where it errs.
func FuzzDecodeAttributes(f *testing.F) {
	for _, s := range []string{
		"", "{}", "null", "[]", "[1]", "1", `"x"`, "{", `{"a":}`, `{"a":1,}`,
		`{"a":1,"b":"x","c":true,"d":null,"e":-1.5e3}`,
		`{"nested":{"x":[1,{"y":"}"}]},"s":"a\"b\\"}`,
		` { "a" : 1 , "b" : [ 1 , 2 ] } `,
		`{"a":1,"a":2}`,
		`{"k\u00e9y":"v","\ud83d\ude00":1,"tab\t":2}`,
		"{\"bad\xff\":1,\"v\":\"\xfe\"}",
		`{"plan":"pro","seats":3,"beta":false,"created":1700000000,"note":"line\nbreak"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := map[string]json.RawMessage{}
		var wantErr error
		if s != "" {
			wantErr = json.Unmarshal([]byte(s), &want)
		}
		got, err := decodeAttributes(s)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("decodeAttributes(%q): error %v, json.Unmarshal's %v", s, err, wantErr)
		}
		if err != nil {
			return
		}
		if len(got) != len(want) {
			t.Fatalf("decodeAttributes(%q) = %q, json.Unmarshal gives %q", s, got, want)
		}
		for k, v := range want {
			if g, ok := got[k]; !ok || string(g) != string(v) {
				t.Fatalf("decodeAttributes(%q)[%q] = %q, json.Unmarshal gives %q", s, k, g, v)
			}
		}
		if !reflect.DeepEqual(keys(got), keys(want)) {
			t.Fatalf("keys differ")
		}
	})
}

func keys(m map[string]json.RawMessage) map[string]bool {
	out := map[string]bool{}
	for k := range m {
		out[k] = true
	}
	return out
}

// TestDecodedValuesAreCapped: appending to one decoded value never writes over the next.
func TestDecodedValuesAreCapped(t *testing.T) {
	attrs, err := decodeAttributes(`{"a":1,"b":2}`)
	if err != nil {
		t.Fatal(err)
	}
	_ = append(attrs["a"], '9', '9', '9')
	if string(attrs["b"]) != "2" {
		t.Fatalf("b = %q after appending to a", attrs["b"])
	}
}

func BenchmarkDecodeAttributes(b *testing.B) {
	s := `{"beta":true,"country":"NZ","created_at":1577836800,"first_name":"First1","last_name":"Last1","plan":"pro","seats":1}`
	b.Run("decodeAttributes", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeAttributes(s); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json.Unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m := map[string]json.RawMessage{}
			if err := json.Unmarshal([]byte(s), &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// An encoder used row after row writes each row's attributes as encoding/json
// would (keys sorted): the sorted names of the row before serve only when the row
// has exactly those names (rows with the same count of other names, fewer, more,
// none).
func TestAttributeEncoderAfterOtherRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	names := []string{"plan", "seats", "a", "b", "Zoë", "x\"y", "", "plan2"}
	var reused attributeEncoder
	for i := 0; i < 5000; i++ {
		attrs := map[string]json.RawMessage{}
		for range rng.IntN(len(names) + 1) {
			attrs[names[rng.IntN(len(names))]] = json.RawMessage(fmt.Sprint(rng.IntN(100)))
		}
		want, err := json.Marshal(attrs)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(reused.json(attrs)); got != string(want) {
			t.Fatalf("row %d: %s, encoding/json writes %s", i, got, want)
		}
	}
}

// BenchmarkAttributeEncoder writes a backfill's attributes, seven a row with the
// same names:
//
//	go test ./store -run '^$' -bench AttributeEncoder
func BenchmarkAttributeEncoder(b *testing.B) {
	attrs := map[string]json.RawMessage{"first_name": json.RawMessage(`"First1"`), "last_name": json.RawMessage(`"Last1"`),
		"plan": json.RawMessage(`"pro"`), "country": json.RawMessage(`"NZ"`), "seats": json.RawMessage(`3`),
		"beta": json.RawMessage(`true`), "created_at": json.RawMessage(`1577836801`)}
	var e attributeEncoder
	for b.Loop() {
		e.json(attrs)
	}
}
