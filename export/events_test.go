package export_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/dbsync/dbsync/events"
	"github.com/dbsync/dbsync/export"
	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/store"
)

func writeEvents(t *testing.T, st *store.Store, evs ...events.Event) {
	t.Helper()
	ctx := context.Background()
	if err := st.InTx(ctx, func(tx *store.Tx) error { return tx.WriteEvents(ctx, evs) }); err != nil {
		t.Fatal(err)
	}
}

func event(sync, id, cio, name string, ts int64, data string) events.Event {
	return events.Event{Sync: sync, ID: id, CioID: cio, Name: name, Timestamp: ts, Data: json.RawMessage(data)}
}

// TestExportEvents: the events file of SPEC §6 in every format, with exactly its
// columns and values, read back. The first export holds every event; the next only
// those stored since; an event a merge moved comes again under the survivor; a
// deleted person's events are gone (their people row says deleted); an export with
// no new events writes the file empty; --full holds every event, and the export after
// it none.
func TestExportEvents(t *testing.T) {
	formats := []string{"parquet", "csv", "ndjson"}
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			b := newObjectsBundle(t, backend) // u1, u2
			settings := identity.DefaultSettings()
			settings.MergeDuplicates = true
			apply(t, b.st, settings, []*record.Record{{Key: "3", Email: "lead@x.io"}, {Key: "4", ID: "u3"}})
			lead, err := b.st.FindPerson(ctx, settings, "lead@x.io")
			if err != nil {
				t.Fatal(err)
			}
			u3, err := b.st.FindPerson(ctx, settings, "u3")
			if err != nil {
				t.Fatal(err)
			}
			names := func(s string) string {
				return strings.NewReplacer(lead.CioID, "lead", u3.CioID, "u3").Replace(b.names(s))
			}
			writeEvents(t, b.st,
				event("orders", "e1", b.u1, "purchase", 100, `{"note":"a, \"b\"\n<c&d>","total":"12.50"}`),
				event("orders", "E1", b.u2, "refund", 110, `{}`),
				event("logins", "e1", b.u1, "login", 120, `{"ip":"10.0.0.1"}`),
				event("orders", "e2", lead.CioID, "purchase", 130, `{"qty":2}`),
				event("orders", "e3", u3.CioID, "purchase", 140, `{}`))
			dir := t.TempDir()
			check := func(m *export.Manifest, want ...string) {
				t.Helper()
				if m.Events != int64(len(want)) {
					t.Errorf("export %d: the manifest counts %d events, want %d", m.Export, m.Events, len(want))
				}
				for _, f := range m.Files {
					if f.Table == "events" && f.Rows != int64(len(want)) {
						t.Errorf("export %d: the manifest's %s says %d rows, want %d", m.Export, f.Name, f.Rows, len(want))
					}
				}
				slices.Sort(want)
				for _, format := range formats {
					got := readTable(t, dir, m, "events", format)
					for i := range got {
						got[i] = names(got[i])
					}
					slices.Sort(got)
					if !slices.Equal(got, want) {
						t.Errorf("export %d, events in %s:\n%s\nwant\n%s", m.Export, format, strings.Join(got, "\n"), strings.Join(want, "\n"))
					}
				}
			}
			all := []string{
				`u1 | e1 | orders | purchase | 100 | {"note":"a, \"b\"\n<c&d>","total":"12.50"}`,
				`u2 | E1 | orders | refund | 110 | {}`,
				`u1 | e1 | logins | login | 120 | {"ip":"10.0.0.1"}`,
				`lead | e2 | orders | purchase | 130 | {"qty":2}`,
				`u3 | e3 | orders | purchase | 140 | {}`,
			}
			first := run(t, b.st, dir, false, formats...).Manifest
			check(first, all...)
			checkParquetSchema(t, file(t, dir, first, "events", "parquet"), map[string]string{
				"internal_customer_id": "BYTE_ARRAY STRING required", "event_id": "BYTE_ARRAY STRING required",
				"sync": "BYTE_ARRAY STRING required", "name": "BYTE_ARRAY STRING required",
				"timestamp": "INT64 required", "data": "BYTE_ARRAY STRING required",
			})

			// A new event; the lead is merged into u1 and u3 deleted.
			writeEvents(t, b.st, event("orders", "e4", b.u2, "purchase", 150, `{}`))
			apply(t, b.st, settings, []*record.Record{{Key: "5", ID: "u1", Email: "lead@x.io"}})
			if err := b.st.DeletePerson(ctx, u3.CioID); err != nil {
				t.Fatal(err)
			}
			second := run(t, b.st, dir, false, formats...).Manifest
			check(second, `u2 | e4 | orders | purchase | 150 | {}`, `u1 | e2 | orders | purchase | 130 | {"qty":2}`)

			third := run(t, b.st, dir, false, formats...).Manifest
			check(third)

			full := run(t, b.st, dir, true, formats...).Manifest
			check(full,
				`u1 | e1 | orders | purchase | 100 | {"note":"a, \"b\"\n<c&d>","total":"12.50"}`,
				`u2 | E1 | orders | refund | 110 | {}`,
				`u1 | e1 | logins | login | 120 | {"ip":"10.0.0.1"}`,
				`u1 | e2 | orders | purchase | 130 | {"qty":2}`,
				`u2 | e4 | orders | purchase | 150 | {}`)
			if m := run(t, b.st, dir, false, "ndjson").Manifest; m.Events != 0 || len(readTable(t, dir, m, "events", "ndjson")) != 0 {
				t.Errorf("the export after a full one holds %d events", m.Events)
			}
			checkChain(t, manifests(t, dir))
		})
	}
}

// TestExportEventsCommittedLate: on PostgreSQL an event stored by a batch that
// commits after an export claimed (as a later batch's events did before it) is in the
// next export, not skipped: the cursor is what each event's row says, not an order of
// insertion. (SQLite has one writer: a batch and a claim never overlap.)
func TestExportEventsCommittedLate(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, "postgres", testdb.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	late, err := st.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer late.Rollback()
	if err := late.WriteEvents(ctx, []events.Event{event("orders", "late", "c1", "purchase", 1, `{}`)}); err != nil {
		t.Fatal(err)
	}
	writeEvents(t, st, event("orders", "early", "c1", "purchase", 2, `{}`)) // commits first
	dir := t.TempDir()
	first := run(t, st, dir, false, "ndjson").Manifest
	if err := late.Commit(); err != nil {
		t.Fatal(err)
	}
	second := run(t, st, dir, false, "ndjson").Manifest
	third := run(t, st, dir, false, "ndjson").Manifest
	for _, c := range []struct {
		m    *export.Manifest
		want []string
	}{{first, []string{"c1 | early | orders | purchase | 2 | {}"}}, {second, []string{"c1 | late | orders | purchase | 1 | {}"}}, {third, nil}} {
		if got := readTable(t, dir, c.m, "events", "ndjson"); !slices.Equal(got, c.want) {
			t.Errorf("export %d: %v, want %v", c.m.Export, got, c.want)
		}
	}
}
