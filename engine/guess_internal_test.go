package engine

import (
	"context"
	"fmt"
	"testing"

	"github.com/dbsync/dbsync/identity"
)

// BenchmarkCheckGuess is the cost the check adds to a backfill batch of 5000 new
// people whose writes hold every key the batch names (nothing is looked up).
//
//	go test ./sync -run XXX -bench CheckGuess
func BenchmarkCheckGuess(b *testing.B) {
	const n = 5000
	var named identity.Keys
	writes := make([]identity.Write, n)
	for i := range writes {
		id, email := fmt.Sprintf("user-%d", i), fmt.Sprintf("user%d@example.com", i)
		named.IDs, named.Emails = append(named.IDs, id), append(named.Emails, email)
		writes[i] = identity.Write{Person: &identity.Person{ID: id, Email: email}, IDKey: id, EmailKey: email, Insert: true}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ok, err := checkGuess(context.Background(), nil, named, writes)
		if !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/row")
}
