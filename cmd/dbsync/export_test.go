package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dbsync/dbsync/export"
	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/objects"
	"github.com/dbsync/dbsync/record"
	"github.com/dbsync/dbsync/store"
)

func TestExportCommand(t *testing.T) {
	storePath := testdb.SQLite(t)
	cfg := writeConfig(t, "sqlite", storePath, "", "")
	dir := filepath.Join(t.TempDir(), "out")
	for _, args := range [][]string{
		{"export", "-c", cfg}, // no --out
		{"export", "-c", cfg, "--out", dir, "--format", "xml"}, // unknown format
		{"export", "-c", cfg, "--out", dir, "extra"},
		{"export", "--out", dir}, // no config
	} {
		if code, _, _ := dbsync(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	if code, _, errOut := dbsync(t, "export", "-c", cfg, "--out", dir); code != exitFailed || !strings.Contains(errOut, "does not exist") {
		t.Errorf("export of a store never written: exit %d, %s", code, errOut)
	}
	if _, err := os.Stat(storePath); !os.IsNotExist(err) {
		t.Fatalf("export created the store")
	}

	fillPeople(t, storePath, 0, 3, "free")
	fillObjects(t, storePath)
	code, out, errOut := dbsync(t, "export", "-c", cfg, "--out", dir, "--format", "csv,ndjson")
	var got struct {
		Export, People, Attributes, Objects, Relationships int64
		ObjectAttributes                                   int64 `json:"object_attributes"`
		Manifest                                           string
	}
	if err := json.Unmarshal([]byte(out), &got); code != 0 || err != nil {
		t.Fatalf("export: exit %d, %q, %s", code, out, errOut)
	}
	if got.Export != 1 || got.People != 3 || got.Attributes != 6 || got.Objects != 1 || got.ObjectAttributes != 2 ||
		got.Relationships != 1 || got.Manifest != filepath.Join(dir, "manifest-00000001.json") {
		t.Fatalf("export printed %+v", got)
	}
	names, _ := filepath.Glob(filepath.Join(dir, "*"))
	for i := range names {
		names[i] = filepath.Base(names[i])
	}
	want := []string{"attributes-00000001.csv", "attributes-00000001.ndjson", "manifest-00000001.json",
		"object_attributes-00000001.csv", "object_attributes-00000001.ndjson", "objects-00000001.csv", "objects-00000001.ndjson",
		"people-00000001.csv", "people-00000001.ndjson", "relationships-00000001.csv", "relationships-00000001.ndjson"}
	if !slices.Equal(names, want) {
		t.Fatalf("files: %v, want %v", names, want)
	}
	if code, out, _ := dbsync(t, "export", "-c", cfg, "--out", dir); code != 0 || !strings.Contains(out, `"export":2,"full":false,"people":0`) {
		t.Fatalf("second export: exit %d, %s", code, out)
	}
}

// fillObjects writes an object, account A with two attributes, and a relationship of
// u0 (fillPeople's) with it, straight through the store as a sync would leave them.
func fillObjects(t testing.TB, path string) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u0, err := st.FindPerson(ctx, identity.DefaultSettings(), "u0")
	if err != nil {
		t.Fatal(err)
	}
	acct := objects.Object{Type: "account", ID: "A", CreatedAt: 1, UpdatedAt: 1,
		Attributes: map[string]json.RawMessage{"plan": json.RawMessage(`"pro"`), "name": json.RawMessage(`"Acme, \"Inc\""`)}}
	var log []objects.Change
	for name, v := range acct.Attributes {
		log = append(log, objects.Change{Time: 1, Sync: "accounts", ObjectType: "account", ObjectID: "A",
			Kind: objects.KindAttributeChange, Attribute: name, To: v})
	}
	rel := objects.Relationship{CioID: u0.CioID, ObjectType: "account", ObjectID: "A", CreatedAt: 1, UpdatedAt: 1,
		Attributes: map[string]json.RawMessage{"role": json.RawMessage(`"admin"`)}}
	err = st.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.WriteObjects(ctx, []objects.Write{{Object: &acct, Insert: true}}, log); err != nil {
			return err
		}
		return tx.WriteRelationships(ctx, []objects.RelationshipWrite{{Relationship: &rel, Insert: true}})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// fillPeople writes people u<from>..u<to-1>, each with a plan and a name, in batches.
func fillPeople(t testing.TB, path string, from, to int, plan string) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pl := &identity.Planner{Settings: identity.DefaultSettings()}
	for start := from; start < to; start += 5000 {
		var rows []*record.Record
		for i := start; i < min(start+5000, to); i++ {
			rows = append(rows, &record.Record{Key: fmt.Sprint(i), ID: fmt.Sprintf("u%d", i), Email: fmt.Sprintf("u%d@x.io", i),
				Attrs: []record.Attr{
					{Name: "plan", Value: []byte(fmt.Sprintf("%q", plan))},
					{Name: "name", Value: []byte(fmt.Sprintf(`"User, \"number\" %d"`, i))},
				}})
		}
		err := st.InTx(ctx, func(tx *store.Tx) error {
			b, err := pl.Plan(ctx, tx, "test", rows)
			if err != nil {
				return err
			}
			return tx.Write(ctx, "test", 0, rows, b)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestKilledExportIsRedone: a real dbsync export process killed with SIGKILL while it
// writes its files, and then at random moments of later exports, with people changing
// in between. Each rerun finishes what the killed one left; in the end the manifests
// are 1..n with change log ranges that chain with no gap and no overlap, no temporary
// file is left, and the exports loaded in order give exactly the store.
func TestKilledExportIsRedone(t *testing.T) {
	if testing.Short() {
		t.Skip("100k people")
	}
	const people = 100_000
	storePath := testdb.SQLite(t)
	fillPeople(t, storePath, 0, people, "free")
	cfg := writeConfig(t, "sqlite", storePath, "", "")
	dir := t.TempDir()

	// Kill the first export while it writes.
	cmd, out := process(t, "export", "-c", cfg, "--out", dir, "--format", "ndjson,parquet")
	tmp := filepath.Join(dir, ".people-00000001.ndjson.tmp")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		if info, err := os.Stat(tmp); err == nil && info.Size() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the export wrote nothing within 30 s:\n%s", out)
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if _, err := os.Stat(filepath.Join(dir, "manifest-00000001.json")); !os.IsNotExist(err) {
		t.Fatalf("the killed export published its manifest:\n%s", out)
	}
	t.Logf("killed %s", lastExport(t, storePath))
	// Its lease would be live for 30 s, but its process ran on this host and is gone:
	// the next export takes the lease over at once (SPEC §3) and redoes export 1.
	if code, out, errOut := dbsync(t, "export", "-c", cfg, "--out", dir, "--format", "ndjson,parquet"); code != 0 || !strings.Contains(out, `"export":1,`) {
		t.Fatalf("the rerun of export 1: exit %d\n%s%s", code, out, errOut)
	}

	// Then kill smaller exports at random moments: claiming, writing, publishing,
	// recording, or after they finished.
	r := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 6; round++ {
		fillPeople(t, storePath, round*3000, round*3000+2000, fmt.Sprintf("plan-%d", round)) // changes
		fillPeople(t, storePath, people+round*100, people+round*100+100, "new")              // new people
		cmd, _ := process(t, "export", "-c", cfg, "--out", dir, "--format", "ndjson,parquet")
		time.Sleep(time.Duration(10+r.IntN(150)) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
		t.Logf("round %d: killed %s", round, lastExport(t, storePath))
		// No waiting for the dead one's lease to expire: each next export takes it over.
	}
	started := time.Now()
	if code, out, errOut := dbsync(t, "export", "-c", cfg, "--out", dir, "--format", "ndjson"); code != 0 {
		t.Fatalf("export after the kills: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("the export after the kills took %v", time.Since(started))
	if code, out, _ := dbsync(t, "export", "-c", cfg, "--out", dir, "--format", "ndjson"); code != 0 || !strings.Contains(out, `"people":0`) {
		t.Fatalf("an export with nothing changed: exit %d, %s", code, out)
	}

	if left, _ := filepath.Glob(filepath.Join(dir, ".*.tmp")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	st := st2(t, storePath)
	exports, err := st.Exports(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d exports", len(exports))
	wantPeople, wantAttrs := loadStore(t, st)
	gotPeople, gotAttrs := map[string]string{}, map[string]string{}
	var through int64
	for i, ex := range exports {
		m, err := export.ReadManifest(filepath.Join(dir, fmt.Sprintf("manifest-%08d.json", i+1)))
		if err != nil || ex.State != store.ExportDone || m.Export != ex.Seq || ex.Seq != int64(i+1) {
			t.Fatalf("export %d (%s): manifest %+v, %v", ex.Seq, ex.State, m, err)
		}
		if m.ChangeLog.AfterSeq != through || m.ChangeLog.ThroughSeq < through {
			t.Fatalf("export %d covers (%d, %d], the previous one ended at %d", m.Export, m.ChangeLog.AfterSeq, m.ChangeLog.ThroughSeq, through)
		}
		through = m.ChangeLog.ThroughSeq
		var n int64
		eachLine(t, filepath.Join(dir, fmt.Sprintf("people-%08d.ndjson", m.Export)), func(line string) {
			var p export.PersonRow
			json.Unmarshal([]byte(line), &p)
			gotPeople[p.InternalCustomerID] = line
			n++
		})
		eachLine(t, filepath.Join(dir, fmt.Sprintf("attributes-%08d.ndjson", m.Export)), func(line string) {
			var a export.AttributeRow
			json.Unmarshal([]byte(line), &a)
			k := a.InternalCustomerID + " " + a.AttributeName
			if a.AttributeValue == nil {
				delete(gotAttrs, k)
			} else {
				gotAttrs[k] = *a.AttributeValue
			}
		})
		if n != m.People {
			t.Fatalf("export %d: %d people, the manifest says %d", m.Export, n, m.People)
		}
	}
	if !maps.Equal(gotPeople, wantPeople) || !maps.Equal(gotAttrs, wantAttrs) {
		t.Fatalf("the exports loaded in order: %d people and %d attributes, the store %d and %d",
			len(gotPeople), len(gotAttrs), len(wantPeople), len(wantAttrs))
	}
}

// loadStore gives the store's people as NDJSON lines of the people file, and its
// attribute values, keyed as in the test.
func loadStore(t *testing.T, st *store.Store) (map[string]string, map[string]string) {
	people, attrs := map[string]string{}, map[string]string{}
	err := st.EachPerson(context.Background(), func(p identity.Person) error {
		opt := func(s string) *string {
			if s == "" {
				return nil
			}
			return &s
		}
		b, _ := json.Marshal(export.PersonRow{InternalCustomerID: p.CioID, ExternalCustomerID: opt(p.ID), Email: opt(p.Email),
			Deleted: p.Deleted, Suppressed: p.Suppressed, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt, MergedInto: opt(p.MergedInto)})
		people[p.CioID] = string(b)
		for name, v := range p.Attributes {
			attrs[p.CioID+" "+name] = string(v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return people, attrs
}

func eachLine(t *testing.T, path string, fn func(string)) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	s.Buffer(nil, 1<<20)
	for s.Scan() {
		fn(s.Text())
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
}

// lastExport describes the store's newest export and whether its manifest is out.
func lastExport(t *testing.T, path string) string {
	t.Helper()
	st, err := store.OpenExisting(context.Background(), "sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	exports, err := st.Exports(context.Background())
	if err != nil || len(exports) == 0 {
		return fmt.Sprintf("before any export started (%v)", err)
	}
	ex := exports[len(exports)-1]
	_, err = os.Stat(ex.Manifest)
	return fmt.Sprintf("with export %d %s, manifest written: %v", ex.Seq, ex.State, err == nil)
}
