package export_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/dbsync/dbsync/export"
	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/objects"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/store"
)

// The columns of each file, in order (SPEC §6).
var objectTables = map[string][]string{
	"objects":           {"object_type", "object_id", "deleted", "created_at", "updated_at"},
	"object_attributes": {"object_type", "object_id", "attribute_name", "attribute_value", "updated_at"},
	"relationships":     {"internal_customer_id", "object_type", "object_id", "attributes", "deleted", "created_at", "updated_at"},
	"events":            {"internal_customer_id", "event_id", "sync", "name", "timestamp", "data"},
	"people":            {"internal_customer_id", "external_customer_id", "email", "deleted", "suppressed", "created_at", "updated_at", "merged_into"},
	"attributes":        {"internal_customer_id", "attribute_name", "attribute_value", "updated_at"},
}

// objectsBundle is a store with two people, u1 and u2, and writers of objects and
// relationships straight through the store, as a sync of kind objects or
// relationships would leave them.
type objectsBundle struct {
	st     *store.Store
	u1, u2 string // internal ids
}

func newObjectsBundle(t *testing.T, backend testdb.Store) *objectsBundle {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, backend.Driver, backend.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	settings := identity.DefaultSettings()
	apply(t, st, settings, []*record.Record{{Key: "1", ID: "u1"}, {Key: "2", ID: "u2"}})
	b := &objectsBundle{st: st}
	for _, p := range []struct {
		id  string
		cio *string
	}{{"u1", &b.u1}, {"u2", &b.u2}} {
		person, err := st.FindPerson(ctx, settings, p.id)
		if err != nil {
			t.Fatal(err)
		}
		*p.cio = person.CioID
	}
	return b
}

// object writes one object and its change log: one attribute_change entry per name of
// changed ("" value: removed), an object_delete when it is deleted.
func (b *objectsBundle) object(t *testing.T, insert bool, o objects.Object, changed ...string) {
	t.Helper()
	var log []objects.Change
	for _, name := range changed {
		c := objects.Change{Time: o.UpdatedAt, Sync: "accounts", ObjectType: o.Type, ObjectID: o.ID,
			Kind: objects.KindAttributeChange, Attribute: name, To: o.Attributes[name]}
		log = append(log, c)
	}
	if o.Deleted {
		log = append(log, objects.Change{Time: o.UpdatedAt, Sync: "accounts", ObjectType: o.Type, ObjectID: o.ID, Kind: objects.KindObjectDelete})
	}
	err := b.st.InTx(context.Background(), func(tx *store.Tx) error {
		return tx.WriteObjects(context.Background(), []objects.Write{{Object: &o, Insert: insert}}, log)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (b *objectsBundle) relationships(t *testing.T, insert bool, rs ...objects.Relationship) {
	t.Helper()
	var ws []objects.RelationshipWrite
	for i := range rs {
		ws = append(ws, objects.RelationshipWrite{Relationship: &rs[i], Insert: insert})
	}
	err := b.st.InTx(context.Background(), func(tx *store.Tx) error {
		return tx.WriteRelationships(context.Background(), ws)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// names shows internal ids as u1 and u2, so expected rows can be written down.
func (b *objectsBundle) names(s string) string {
	return strings.NewReplacer(b.u1, "u1", b.u2, "u2").Replace(s)
}

func rawAttrs(kv ...string) map[string]json.RawMessage {
	m := map[string]json.RawMessage{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = json.RawMessage(kv[i+1])
	}
	return m
}

// readTable reads one file of an export as rows of fields in the table's column order,
// "NULL" for no value, each row joined with " | ", sorted. It checks the columns:
// CSV's header, NDJSON's keys and their JSON types, Parquet's schema.
func readTable(t *testing.T, dir string, m *export.Manifest, table, format string) []string {
	t.Helper()
	cols := objectTables[table]
	path := file(t, dir, m, table, format)
	var rows [][]string
	switch format {
	case "csv":
		records := readRecords(t, path)
		header := readHeader(t, path)
		if !slices.Equal(header, cols) {
			t.Fatalf("%s: header %v, want %v", path, header, cols)
		}
		for _, r := range records {
			row := slices.Clone(r)
			for i := range row {
				if row[i] == "" {
					row[i] = "NULL"
				}
			}
			rows = append(rows, row)
		}
	case "ndjson":
		for _, obj := range readNDJSON[map[string]json.RawMessage](t, path) {
			var row []string
			for _, c := range cols {
				v, ok := obj[c]
				if !ok {
					t.Fatalf("%s: a row without %s: %v", path, c, obj)
				}
				var s string
				switch {
				case string(v) == "null":
					s = "NULL"
				case json.Unmarshal(v, &s) == nil: // a string, its text
				default:
					s = string(v) // a number or a boolean, as JSON writes it
				}
				row = append(row, s)
			}
			if len(obj) != len(cols) {
				t.Fatalf("%s: columns %v, want %v", path, obj, cols)
			}
			rows = append(rows, row)
		}
	case "parquet":
		rows = readParquetRows(t, path, cols)
	}
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = strings.Join(r, " | ")
	}
	sort.Strings(out)
	return out
}

func readHeader(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strings.Split(strings.TrimSuffix(line, "\r"), ",")
}

// readParquetRows reads a Parquet file's rows generically, by the schema's column
// names: typed values as text (BOOLEAN true/false, INT64 digits, strings as they are).
func readParquetRows(t *testing.T, path string, cols []string) [][]string {
	t.Helper()
	f, err := parquetOpen(path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	var names []string
	for _, field := range f.Schema().Fields() {
		names = append(names, field.Name())
	}
	var out [][]string
	for _, rg := range f.RowGroups() {
		rows := rg.Rows()
		buf := make([]parquet.Row, 16)
		for {
			n, err := rows.ReadRows(buf)
			for _, r := range buf[:n] {
				byName := map[string]string{}
				for _, v := range r {
					name := names[v.Column()]
					switch {
					case v.IsNull():
						byName[name] = "NULL"
					case v.Kind() == parquet.Boolean:
						byName[name] = strconv.FormatBool(v.Boolean())
					case v.Kind() == parquet.Int64:
						byName[name] = strconv.FormatInt(v.Int64(), 10)
					default:
						byName[name] = string(v.ByteArray())
					}
				}
				var row []string
				for _, c := range cols {
					row = append(row, byName[c])
				}
				out = append(out, row)
			}
			if err != nil {
				break
			}
		}
		rows.Close()
	}
	return out
}

// TestExportObjectsAndRelationships: the objects, object_attributes and relationships
// files of SPEC §6 in every format, with exactly their columns and values. The first
// export holds everything; the second only what changed: a changed and a removed
// attribute, a deleted object (deleted: true) and a removed relationship (deleted:
// true); the third, nothing (the files are written, empty); --full everything again.
func TestExportObjectsAndRelationships(t *testing.T) {
	formats := []string{"parquet", "csv", "ndjson"}
	for _, backend := range testdb.Stores() {
		t.Run(backend.Driver, func(t *testing.T) {
			t.Parallel()
			b := newObjectsBundle(t, backend)
			b.object(t, true, objects.Object{Type: "account", ID: "A", CreatedAt: 100, UpdatedAt: 100,
				Attributes: rawAttrs("plan", `"pro"`, "seats", `3`, "note", `"a, \"b\"\n<c&d>"`)}, "note", "plan", "seats")
			b.object(t, true, objects.Object{Type: "account", ID: "a", CreatedAt: 110, UpdatedAt: 110,
				Attributes: rawAttrs("plan", `"free"`)}, "plan")
			b.object(t, true, objects.Object{Type: "course", ID: "c-1", CreatedAt: 120, UpdatedAt: 120})
			b.relationships(t, true,
				objects.Relationship{CioID: b.u1, ObjectType: "account", ObjectID: "A", CreatedAt: 100, UpdatedAt: 100,
					Attributes: rawAttrs("role", `"admin"`, "since", `2020`, "tags", `["<x>","y"]`)},
				objects.Relationship{CioID: b.u1, ObjectType: "account", ObjectID: "a", CreatedAt: 110, UpdatedAt: 110},
				objects.Relationship{CioID: b.u2, ObjectType: "course", ObjectID: "c-1", CreatedAt: 120, UpdatedAt: 120,
					Attributes: rawAttrs("grade", `null`)})
			dir := t.TempDir()
			check := func(m *export.Manifest, want map[string][]string) {
				t.Helper()
				counts := map[string]int64{"objects": m.Objects, "object_attributes": m.ObjectAttributes, "relationships": m.Relationships}
				for table, rows := range want {
					if counts[table] != int64(len(rows)) {
						t.Errorf("export %d: the manifest counts %d %s rows, want %d", m.Export, counts[table], table, len(rows))
					}
					for _, f := range m.Files {
						if f.Table == table && f.Rows != int64(len(rows)) {
							t.Errorf("export %d: the manifest's %s says %d rows, want %d", m.Export, f.Name, f.Rows, len(rows))
						}
					}
					for _, format := range formats {
						got := readTable(t, dir, m, table, format)
						for i := range got {
							got[i] = b.names(got[i])
						}
						if !slices.Equal(got, rows) {
							t.Errorf("export %d, %s in %s:\n%s\nwant\n%s", m.Export, table, format, strings.Join(got, "\n"), strings.Join(rows, "\n"))
						}
					}
				}
			}

			first := run(t, b.st, dir, false, formats...).Manifest
			check(first, map[string][]string{
				"objects": {
					"account | A | false | 100 | 100",
					"account | a | false | 110 | 110",
					"course | c-1 | false | 120 | 120",
				},
				"object_attributes": {
					`account | A | note | "a, \"b\"\n<c&d>" | 100`,
					`account | A | plan | "pro" | 100`,
					`account | A | seats | 3 | 100`,
					`account | a | plan | "free" | 110`,
				},
				"relationships": {
					`u1 | account | A | {"role":"admin","since":2020,"tags":["<x>","y"]} | false | 100 | 100`,
					`u1 | account | a | {} | false | 110 | 110`,
					`u2 | course | c-1 | {"grade":null} | false | 120 | 120`,
				},
			})
			if first.People != 2 {
				t.Errorf("the first export holds %d people, want 2", first.People)
			}
			var names []string
			for _, f := range first.Files {
				names = append(names, f.Name)
			}
			wantNames := []string{}
			for _, table := range []string{"people", "attributes", "objects", "object_attributes", "relationships", "events"} {
				for _, format := range formats {
					wantNames = append(wantNames, fmt.Sprintf("%s-00000001.%s", table, format))
				}
			}
			if !slices.Equal(names, wantNames) {
				t.Errorf("the manifest lists %v, want %v", names, wantNames)
			}
			checkParquetSchema(t, file(t, dir, first, "objects", "parquet"), map[string]string{
				"object_type": "BYTE_ARRAY STRING required", "object_id": "BYTE_ARRAY STRING required",
				"deleted": "BOOLEAN required", "created_at": "INT64 required", "updated_at": "INT64 required",
			})
			checkParquetSchema(t, file(t, dir, first, "object_attributes", "parquet"), map[string]string{
				"object_type": "BYTE_ARRAY STRING required", "object_id": "BYTE_ARRAY STRING required",
				"attribute_name": "BYTE_ARRAY STRING required", "attribute_value": "BYTE_ARRAY STRING optional",
				"updated_at": "INT64 required",
			})
			checkParquetSchema(t, file(t, dir, first, "relationships", "parquet"), map[string]string{
				"internal_customer_id": "BYTE_ARRAY STRING required", "object_type": "BYTE_ARRAY STRING required",
				"object_id": "BYTE_ARRAY STRING required", "attributes": "BYTE_ARRAY STRING optional",
				"deleted": "BOOLEAN required", "created_at": "INT64 required", "updated_at": "INT64 required",
			})

			// A's plan changes and its seats go; a is deleted, which removes u1's
			// relationship with it (at 210: the removal written after changes nothing);
			// u2's relationship is written again unchanged, which exports nothing.
			b.object(t, false, objects.Object{Type: "account", ID: "A", CreatedAt: 100, UpdatedAt: 200,
				Attributes: rawAttrs("plan", `"team"`, "note", `"a, \"b\"\n<c&d>"`)}, "plan", "seats")
			b.object(t, false, objects.Object{Type: "account", ID: "a", CreatedAt: 110, UpdatedAt: 210,
				Attributes: rawAttrs("plan", `"free"`), Deleted: true})
			b.relationships(t, false,
				objects.Relationship{CioID: b.u1, ObjectType: "account", ObjectID: "a", CreatedAt: 110, UpdatedAt: 220, Removed: true},
				objects.Relationship{CioID: b.u2, ObjectType: "course", ObjectID: "c-1", CreatedAt: 120, UpdatedAt: 230,
					Attributes: rawAttrs("grade", `null`)})
			second := run(t, b.st, dir, false, formats...).Manifest
			check(second, map[string][]string{
				"objects": {
					"account | A | false | 100 | 200",
					"account | a | true | 110 | 210",
				},
				"object_attributes": {
					`account | A | plan | "team" | 200`,
					`account | A | seats | NULL | 200`,
				},
				"relationships": {
					`u1 | account | a | NULL | true | 110 | 210`,
				},
			})
			if second.People != 0 || second.Attributes != 0 {
				t.Errorf("the second export holds %d people and %d attributes, want none", second.People, second.Attributes)
			}

			// Nothing changed: every file is still written, with no rows (CSV: the header).
			third := run(t, b.st, dir, false, formats...).Manifest
			check(third, map[string][]string{"objects": nil, "object_attributes": nil, "relationships": nil})
			if len(third.Files) != 18 {
				t.Errorf("the export with nothing changed lists %d files, want 18", len(third.Files))
			}

			full := run(t, b.st, dir, true, formats...).Manifest
			check(full, map[string][]string{
				"objects": {
					"account | A | false | 100 | 200",
					"account | a | true | 110 | 210",
					"course | c-1 | false | 120 | 120",
				},
				"object_attributes": {
					`account | A | note | "a, \"b\"\n<c&d>" | 200`,
					`account | A | plan | "team" | 200`,
					// a is deleted: a tombstone, whatever attributes its row still holds.
				},
				"relationships": {
					`u1 | account | A | {"role":"admin","since":2020,"tags":["<x>","y"]} | false | 100 | 100`,
					`u1 | account | a | NULL | true | 110 | 210`,
					`u2 | course | c-1 | {"grade":null} | false | 120 | 120`,
				},
			})
			if !full.Full || full.People != 2 {
				t.Errorf("the full export: full %v, %d people", full.Full, full.People)
			}
			if m := run(t, b.st, dir, false, "ndjson").Manifest; m.Objects != 0 || m.ObjectAttributes != 0 || m.Relationships != 0 {
				t.Errorf("the export after a full one holds %d objects, %d object attributes, %d relationships", m.Objects, m.ObjectAttributes, m.Relationships)
			}
			checkChain(t, manifests(t, dir))
		})
	}
}
