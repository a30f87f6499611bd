package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/store"
)

// TestQuickstart: the quickstart runs as the README says, its first run creates
// people, objects and relationships, its second reads only the changed rows of each
// table, and the store then holds what the commands it prints show.
func TestQuickstart(t *testing.T) {
	t.Chdir(t.TempDir())
	ctx := context.Background()
	var out strings.Builder
	if err := run(ctx, &out); err != nil {
		t.Fatalf("quickstart: %v\n%s", err, out.String())
	}
	first, second, ok := strings.Cut(out.String(), "== Second run")
	if !ok {
		t.Fatalf("no second run in:\n%s", out.String())
	}
	// Compared a word at a time: the summary's alignment is not the point.
	words := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	first, second = words(first), words(second)
	for _, c := range []struct{ in, want string }{
		{first, "app_users: ok rows read: 300 people created: 297 "},
		{first, "accounts: ok rows read: 5 objects created: 4 "},
		{first, "memberships: ok rows read: 8 relationships created: 8 "},
		{second, "app_users: ok rows read: 4 "},
		{second, "accounts: ok rows read: 1 objects created: 0 objects updated: 1 "},
		{second, "memberships: ok rows read: 2 relationships created: 0 relationships updated: 2 "},
		{second, "dbsync objects get -c quickstart/dbsync.yaml account acme"},
		{second, "dbsync people relationships -c quickstart/dbsync.yaml u1"},
	} {
		if !strings.Contains(c.in, c.want) {
			t.Errorf("the output does not show %q in:\n%s", c.want, c.in)
		}
	}

	st, err := store.Open(ctx, "sqlite", filepath.Join(dir, "dbsync.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	acme, err := st.FindObject(ctx, "account", "acme")
	if err != nil {
		t.Fatalf("objects get account acme: %v", err)
	}
	if got := string(acme.Attributes["seats"]); got != "60" {
		t.Errorf("acme's seats = %s, want 60 (the second run's)", got)
	}
	if hooli, err := st.FindObject(ctx, "account", "hooli"); err != nil || len(hooli.Attributes) != 0 {
		t.Errorf("hooli, named only by a membership: %+v, %v; want it with no attributes", hooli, err)
	}
	// Who is in which account after the second run: u3 left Acme, u8 became an admin.
	want := map[string]string{
		"u1":   "account/acme role owner, account/globex role member",
		"u3":   "",
		"u8":   "account/globex role admin",
		"u999": "account/initech role member", // a person the users table does not have
	}
	for id, w := range want {
		p, err := st.FindPerson(ctx, identity.DefaultSettings(), id)
		if err != nil {
			t.Fatalf("people get %s: %v", id, err)
		}
		rels, err := st.PersonRelationships(ctx, p.CioID)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range rels {
			got = append(got, r.ObjectType+"/"+r.ObjectID+" role "+strings.Trim(string(r.Attributes["role"]), `"`))
		}
		if g := strings.Join(got, ", "); g != w {
			t.Errorf("people relationships %s = %q, want %q", id, g, w)
		}
	}
}
