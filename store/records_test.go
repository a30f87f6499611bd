package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/store"
)

// Two reads of the same row in one batch record what two batches of one record: one
// rejected entry per sync, key and reason (last seen moving, latest detail), and one
// refused change per person, sync, row key, attribute, value and reason.
func TestRecordedOnceWithinABatch(t *testing.T) {
	forEachStore(t, func(t *testing.T, driver, dsn string) {
		st := open(t, driver, dsn)
		ctx := context.Background()
		refused := func(at int64, key, value string) identity.Change {
			return identity.Change{Time: at, Sync: "s", RowKey: key, CioID: "p1", Kind: identity.KindFailedAttributeChange,
				Attribute: "email", To: json.RawMessage(`"` + value + `"`), Reason: identity.ReasonInvalidEmail}
		}
		rejected := func(at int64, key, detail string) identity.Rejection {
			return identity.Rejection{Time: at, Sync: "s", Key: key, Reason: identity.ReasonNoIdentifier, Detail: detail}
		}
		write := func(b *identity.Batch) {
			t.Helper()
			if err := st.InTx(ctx, func(tx *store.Tx) error { return tx.Write(ctx, b) }); err != nil {
				t.Fatal(err)
			}
		}
		write(&identity.Batch{
			Log:      []identity.Change{refused(10, "k1", "bad"), refused(10, "k1", "bad"), refused(10, "k1", "worse"), refused(10, "", "bad"), refused(10, "", "bad")},
			Rejected: []identity.Rejection{rejected(10, "k2", "a"), rejected(10, "", "b"), rejected(10, "k2", "c"), rejected(10, "", "d")},
		})
		write(&identity.Batch{
			Log:      []identity.Change{refused(20, "k1", "bad"), refused(20, "k3", "bad")},
			Rejected: []identity.Rejection{rejected(20, "k2", "e")},
		})
		var got []string
		st.EachChange(ctx, func(c identity.Change) error {
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
