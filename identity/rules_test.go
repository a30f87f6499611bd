package identity_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/dbsync/dbsync/identity"
	"github.com/dbsync/dbsync/internal/testdb"
	"github.com/dbsync/dbsync/record"
)

var (
	idEmail   = identity.Settings{IDIdentifies: true, EmailIdentifies: true}
	idOnly    = identity.Settings{IDIdentifies: true}
	emailOnly = identity.Settings{EmailIdentifies: true}
)

func allow(s identity.Settings) identity.Settings { s.AllowEmailUpdateByID = true; return s }
func merge(s identity.Settings) identity.Settings { s.MergeDuplicates = true; return s }

func label(s identity.Settings) string {
	l := strings.Join(s.Identifiers(), "+")
	if s.AllowEmailUpdateByID {
		l += ",allow_email_update_by_id"
	}
	if s.MergeDuplicates {
		l += ",merge_duplicates"
	}
	return l
}

// ruleCase is one line of the decision table of SPEC §1: the people the store holds
// (given, applied as one batch), one row, and what must come of it.
type ruleCase struct {
	name     string
	settings []identity.Settings
	given    []record.Record
	deleted  []int // given rows whose person is deleted before the row is applied
	row      record.Record
	result   record.Result
	reason   string   // for Rejected and Skipped
	failed   []string // failed attribute changes: attribute=value:reason
	people   []string // the whole store afterwards, as dump describes it
	find     map[string]string
}

var ruleCases = []ruleCase{
	// Rule 1: no identifier.
	{
		name:     "rule 1: a row without identifiers is rejected",
		settings: []identity.Settings{idEmail, idOnly, emailOnly, allow(merge(idEmail))},
		row:      record.Record{Key: "7", Attrs: attrs("plan", "pro")},
		result:   record.Rejected, reason: identity.ReasonNoIdentifier,
	},
	{
		name:     "rule 1: empty strings are no value",
		settings: []identity.Settings{idEmail, idOnly, emailOnly},
		row:      record.Record{Key: "7", CioID: "", ID: "", Email: "  ", Attrs: attrs("plan", "pro")},
		result:   record.Rejected, reason: identity.ReasonNoIdentifier,
	},
	{
		name:     "rule 1: an email alone does not identify in an id workspace",
		settings: []identity.Settings{idOnly, allow(idOnly)},
		row:      person("", "a@x.io", "plan", "pro"),
		result:   record.Rejected, reason: identity.ReasonNoIdentifier,
	},
	{
		name:     "rule 1: an id alone does not identify in an email workspace",
		settings: []identity.Settings{emailOnly, merge(emailOnly)},
		row:      person("u1", "", "plan", "pro"),
		result:   record.Rejected, reason: identity.ReasonNoIdentifier,
	},
	{
		name:     "rule 1: a malformed email as the only identifier is rejected",
		settings: []identity.Settings{idEmail, emailOnly},
		row:      person("", "not-an-address", "plan", "pro"),
		result:   record.Rejected, reason: identity.ReasonInvalidEmail,
	},
	{
		name:     "a malformed email beside an id is not stored, the rest applies",
		settings: []identity.Settings{idEmail, idOnly, allow(merge(idEmail))},
		row:      person("u1", "a@@x.io", "plan", "pro"),
		result:   record.Created,
		failed:   []string{"email=a@@x.io:invalid_email"},
		people:   []string{`u1||{"plan":"pro"}`},
	},
	{
		name:     "a malformed email on a known person leaves the stored one",
		settings: []identity.Settings{idEmail, allow(idEmail)},
		given:    []record.Record{person("u1", "a@x.io")},
		row:      person("u1", "a x@x.io", "plan", "pro"),
		result:   record.Updated,
		failed:   []string{"email=a x@x.io:invalid_email"},
		people:   []string{`u1|a@x.io|{"plan":"pro"}`},
	},

	// Rule 2: an id that is an email address.
	{
		name:     "rule 2: an id that is an email is the email",
		settings: []identity.Settings{idEmail, emailOnly},
		row:      person("Lead@x.io", "", "plan", "trial"),
		result:   record.Created,
		people:   []string{`|Lead@x.io|{"plan":"trial"}`},
	},
	{
		name:     "rule 2: an id that is an email finds the lead by email",
		settings: []identity.Settings{idEmail, emailOnly},
		given:    []record.Record{person("", "lead@x.io")},
		row:      person("LEAD@x.io", "", "plan", "trial"),
		result:   record.Updated,
		people:   []string{`|lead@x.io|{"plan":"trial"}`},
	},
	{
		name:     "rule 2: where email does not identify, an id that looks like one stays the id",
		settings: []identity.Settings{idOnly},
		row:      person("lead@x.io", ""),
		result:   record.Created,
		people:   []string{`lead@x.io||{}`},
	},
	{
		name:     "rule 2: a row with its own email keeps its id",
		settings: []identity.Settings{idEmail},
		row:      person("a@x.io", "b@x.io"),
		result:   record.Created,
		people:   []string{`a@x.io|b@x.io|{}`},
	},

	// Rule 3: cio_id given.
	{
		name:     "rule 3: an unknown cio_id is skipped and creates no one",
		settings: []identity.Settings{idEmail, idOnly, emailOnly},
		row:      byCio("cio_0123456789abcdef", "u1", "a@x.io", "plan", "pro"),
		result:   record.Skipped, reason: identity.ReasonCioIDNotFound,
	},
	{
		name:     "rule 3: a cio_id that is only the prefix is a cio_id no one has",
		settings: []identity.Settings{idEmail, idOnly, emailOnly, allow(merge(idEmail))},
		given:    []record.Record{person("u1", "a@x.io")},
		row:      byCio("cio_", "u2", "b@x.io", "plan", "pro"),
		result:   record.Skipped, reason: identity.ReasonCioIDNotFound,
	},
	{
		name:     "rule 3: a deleted person's cio_id is skipped",
		settings: []identity.Settings{idEmail, idOnly},
		given:    []record.Record{person("u1", "a@x.io")},
		deleted:  []int{0},
		row:      byCio("@0", "", "", "plan", "pro"),
		result:   record.Skipped, reason: identity.ReasonCioIDNotFound,
		people: []string{`deleted:||{}`}, // SPEC §10: the delete erased their id and email
	},
	{
		name:     "rule 3: cio_id with the cio_ prefix finds the person",
		settings: []identity.Settings{idEmail, idOnly},
		given:    []record.Record{person("u1", "a@x.io")},
		row:      byCio("cio_@0", "", "", "plan", "pro"),
		result:   record.Updated,
		people:   []string{`u1|a@x.io|{"plan":"pro"}`},
	},
	{
		name:     "rule 3: cio_id without the prefix finds the person",
		settings: []identity.Settings{idEmail, idOnly},
		given:    []record.Record{person("u1", "a@x.io")},
		row:      byCio("@0", "", "", "plan", "pro"),
		result:   record.Updated,
		people:   []string{`u1|a@x.io|{"plan":"pro"}`},
	},
	{
		name:     "rule 3: cio_id sets an unset id",
		settings: []identity.Settings{idEmail},
		given:    []record.Record{person("", "a@x.io")},
		row:      byCio("@0", "u1", ""),
		result:   record.Updated,
		people:   []string{`u1|a@x.io|{}`},
	},
	{
		name:     "rule 3: cio_id sets an unset email",
		settings: []identity.Settings{idEmail, idOnly},
		given:    []record.Record{person("u1", "")},
		row:      byCio("@0", "", "a@x.io"),
		result:   record.Updated,
		people:   []string{`u1|a@x.io|{}`},
	},
	{
		name:     "rule 3: cio_id changes the email",
		settings: []identity.Settings{idEmail, idOnly, allow(idEmail)},
		given:    []record.Record{person("u1", "a@x.io")},
		row:      byCio("@0", "", "b@x.io"),
		result:   record.Updated,
		people:   []string{`u1|b@x.io|{}`},
		find:     map[string]string{"b@x.io": `u1|b@x.io|{}`},
	},
	{
		name:     "rule 3: cio_id cannot take another person's email",
		settings: []identity.Settings{idEmail, allow(merge(idEmail))},
		given:    []record.Record{person("u1", "a@x.io"), person("u2", "b@x.io")},
		row:      byCio("@0", "", "B@x.io", "plan", "pro"),
		result:   record.Updated,
		failed:   []string{"email=B@x.io:email_belongs_to_another_person"},
		people:   []string{`u1|a@x.io|{"plan":"pro"}`, `u2|b@x.io|{}`},
	},
	{
		name:     "rule 3: in an id workspace email is not unique, so cio_id may set a taken one",
		settings: []identity.Settings{idOnly},
		given:    []record.Record{person("u1", "a@x.io"), person("u2", "b@x.io")},
		row:      byCio("@0", "", "b@x.io", "plan", "pro"),
		result:   record.Updated,
		people:   []string{`u1|b@x.io|{"plan":"pro"}`, `u2|b@x.io|{}`},
	},
	{
		name:     "rule 3: cio_id cannot take another person's id",
		settings: []identity.Settings{idEmail},
		given:    []record.Record{person("", "a@x.io"), person("u2", "b@x.io")},
		row:      byCio("@0", "u2", "", "plan", "pro"),
		result:   record.Updated,
		failed:   []string{"id=u2:id_belongs_to_another_person"},
		people:   []string{`u2|b@x.io|{}`, `|a@x.io|{"plan":"pro"}`},
	},
	{
		name:     "rule 3: in an email workspace id is not unique, so cio_id may set a taken one",
		settings: []identity.Settings{emailOnly},
		given:    []record.Record{person("", "a@x.io"), person("u2", "b@x.io")},
		row:      byCio("@0", "u2", "", "plan", "pro"),
		result:   record.Updated,
		people:   []string{`|a@x.io|{"id":"u2","plan":"pro"}`, `|b@x.io|{"id":"u2"}`},
	},
	{
		name:     "rule 3: a retired cio_id finds the person it was merged into",
		settings: []identity.Settings{merge(idEmail), allow(merge(idEmail))},
		given:    []record.Record{person("u1", ""), person("", "b@x.io"), person("u1", "b@x.io")},
		row:      byCio("@1", "", "", "plan", "pro"),
		result:   record.Updated,
		people:   []string{`merged→u1|b@x.io|{"plan":"pro"}`, `u1|b@x.io|{"plan":"pro"}`},
	},

	// Rule 4: no cio_id; A by id, B by email.
	{
		name:     "rule 4: neither exists: a person is created",
		settings: []identity.Settings{idEmail, idOnly, allow(merge(idEmail))},
		row:      person("u1", "a@x.io", "plan", "pro"),
		result:   record.Created,
		people:   []string{`u1|a@x.io|{"plan":"pro"}`},
		find:     map[string]string{"u1": `u1|a@x.io|{"plan":"pro"}`, "A@X.IO": `u1|a@x.io|{"plan":"pro"}`},
	},
	{
		name:     "rule 4: only A, without an email: the email is set",
		settings: []identity.Settings{idEmail, idOnly, merge(idEmail)},
		given:    []record.Record{person("u1", "")},
		row:      person("u1", "a@x.io"),
		result:   record.Updated,
		people:   []string{`u1|a@x.io|{}`},
	},
	{
		name:     "rule 4: only A with another email: not changed without allow_email_update_by_id",
		settings: []identity.Settings{idEmail, merge(idEmail)},
		given:    []record.Record{person("u1", "a@x.io")},
		row:      person("u1", "b@x.io", "plan", "pro"),
		result:   record.Updated,
		failed:   []string{"email=b@x.io:email_change_not_allowed"},
		people:   []string{`u1|a@x.io|{"plan":"pro"}`},
	},
	{
		name:     "rule 4: only A with another email: changed with allow_email_update_by_id",
		settings: []identity.Settings{allow(idEmail), allow(merge(idEmail))},
		given:    []record.Record{person("u1", "a@x.io")},
		row:      person("u1", "b@x.io", "plan", "pro"),
		result:   record.Updated,
		people:   []string{`u1|b@x.io|{"plan":"pro"}`},
		find:     map[string]string{"a@x.io": "", "b@x.io": `u1|b@x.io|{"plan":"pro"}`},
	},
	{
		name:     "rule 4: only A in an id workspace: email is an ordinary attribute",
		settings: []identity.Settings{idOnly, allow(idOnly)},
		given:    []record.Record{person("u1", "a@x.io")},
		row:      person("u1", "b@x.io", "plan", "pro"),
		result:   record.Updated,
		people:   []string{`u1|b@x.io|{"plan":"pro"}`},
	},
	{
		name:     "rule 4: only A, the same email in another case changes nothing",
		settings: []identity.Settings{idEmail, allow(idEmail)},
		given:    []record.Record{person("u1", "a@x.io")},
		row:      person("u1", "A@X.IO"),
		result:   record.Unchanged,
		people:   []string{`u1|a@x.io|{}`},
	},
	{
		name:     "rule 4: only B without an id: the lead becomes a customer",
		settings: []identity.Settings{idEmail, allow(merge(idEmail))},
		given:    []record.Record{person("", "a@x.io")},
		row:      person("u1", "A@x.io", "plan", "pro"),
		result:   record.Updated,
		people:   []string{`u1|a@x.io|{"plan":"pro"}`},
		find:     map[string]string{"u1": `u1|a@x.io|{"plan":"pro"}`},
	},
	{
		name:     "rule 4: A and B are the same person",
		settings: []identity.Settings{idEmail, merge(idEmail)},
		given:    []record.Record{person("u1", "a@x.io")},
		row:      person("u1", "a@x.io", "plan", "pro"),
		result:   record.Updated,
		people:   []string{`u1|a@x.io|{"plan":"pro"}`},
	},
	{
		name:     "rule 4: A and B differ: A is updated and the email is not moved",
		settings: []identity.Settings{idEmail, allow(idEmail)},
		given:    []record.Record{person("u1", "a@x.io"), person("", "b@x.io")},
		row:      person("u1", "b@x.io", "plan", "pro"),
		result:   record.Updated,
		failed:   []string{"email=b@x.io:email_belongs_to_another_person"},
		people:   []string{`u1|a@x.io|{"plan":"pro"}`, `|b@x.io|{}`},
	},
	{
		name:     "rule 4: A and B differ, merge_duplicates, B a lead: B is merged into A",
		settings: []identity.Settings{merge(idEmail), allow(merge(idEmail))},
		given: []record.Record{
			person("u1", "", "plan", "free", "a", 1),
			person("", "B@x.io", "plan", "pro", "b", 2),
		},
		row:    person("u1", "b@x.io", "c", 3),
		result: record.Updated,
		people: []string{
			`merged→u1|B@x.io|{"a":1,"b":2,"c":3,"plan":"free"}`,
			`u1|B@x.io|{"a":1,"b":2,"c":3,"plan":"free"}`,
		},
		find: map[string]string{
			"b@x.io": `u1|B@x.io|{"a":1,"b":2,"c":3,"plan":"free"}`,
			"@1":     `u1|B@x.io|{"a":1,"b":2,"c":3,"plan":"free"}`,
		},
	},
	{
		name:     "rule 4: merged into an A with its own email: A keeps it without allow_email_update_by_id",
		settings: []identity.Settings{merge(idEmail)},
		given:    []record.Record{person("u1", "a@x.io"), person("", "b@x.io", "b", 2)},
		row:      person("u1", "b@x.io"),
		result:   record.Updated,
		failed:   []string{"email=b@x.io:email_change_not_allowed"},
		people:   []string{`merged→u1|a@x.io|{"b":2}`, `u1|a@x.io|{"b":2}`},
		find:     map[string]string{"b@x.io": "", "@1": `u1|a@x.io|{"b":2}`},
	},
	{
		name:     "rule 4: merged into an A with its own email: A takes B's with allow_email_update_by_id",
		settings: []identity.Settings{allow(merge(idEmail))},
		given:    []record.Record{person("u1", "a@x.io"), person("", "b@x.io", "b", 2)},
		row:      person("u1", "b@x.io"),
		result:   record.Updated,
		people:   []string{`merged→u1|b@x.io|{"b":2}`, `u1|b@x.io|{"b":2}`},
		find:     map[string]string{"a@x.io": "", "b@x.io": `u1|b@x.io|{"b":2}`},
	},
	{
		name:     "rule 4: A and B differ, merge_duplicates, but B has an id: not merged",
		settings: []identity.Settings{merge(idEmail), allow(merge(idEmail))},
		given:    []record.Record{person("u1", "a@x.io"), person("u2", "b@x.io")},
		row:      person("u1", "b@x.io", "plan", "pro"),
		result:   record.Updated,
		failed:   []string{"email=b@x.io:email_belongs_to_another_person"},
		people:   []string{`u1|a@x.io|{"plan":"pro"}`, `u2|b@x.io|{}`},
	},
	{
		name:     "rule 4: in an id workspace two people may share an email",
		settings: []identity.Settings{idOnly, allow(merge(idOnly))},
		given:    []record.Record{person("u1", "a@x.io")},
		row:      person("u2", "a@x.io"),
		result:   record.Created,
		people:   []string{`u1|a@x.io|{}`, `u2|a@x.io|{}`},
	},
	{
		name:     "rule 4: in an email workspace two people may share an id",
		settings: []identity.Settings{emailOnly, merge(emailOnly)},
		given:    []record.Record{person("u1", "a@x.io")},
		row:      person("u1", "b@x.io"),
		result:   record.Created,
		people:   []string{`|a@x.io|{"id":"u1"}`, `|b@x.io|{"id":"u1"}`},
	},

	// Rule 5: a set id never changes.
	{
		name:     "rule 5: by email: a row with another id leaves the id, applies the rest",
		settings: []identity.Settings{idEmail, allow(merge(idEmail))},
		given:    []record.Record{person("u1", "a@x.io")},
		row:      person("u2", "a@x.io", "plan", "pro"),
		result:   record.Updated,
		failed:   []string{"id=u2:id_change_not_allowed"},
		people:   []string{`u1|a@x.io|{"plan":"pro"}`},
		find:     map[string]string{"u2": ""},
	},
	{
		name:     "rule 5: by cio_id: a row with another id leaves the id, applies the rest",
		settings: []identity.Settings{idEmail, idOnly, allow(merge(idEmail))},
		given:    []record.Record{person("u1", "a@x.io")},
		row:      byCio("cio_@0", "u2", "", "plan", "pro"),
		result:   record.Updated,
		failed:   []string{"id=u2:id_change_not_allowed"},
		people:   []string{`u1|a@x.io|{"plan":"pro"}`},
	},
	{
		name:     "rule 5: by id: the person found by id keeps it when the email names someone with another id",
		settings: []identity.Settings{merge(idEmail)},
		given:    []record.Record{person("u1", ""), person("u2", "b@x.io")},
		row:      person("u1", "b@x.io", "plan", "pro"),
		result:   record.Updated,
		failed:   []string{"email=b@x.io:email_belongs_to_another_person"},
		people:   []string{`u1||{"plan":"pro"}`, `u2|b@x.io|{}`},
	},

	// In [email] workspaces id is an ordinary attribute (SPEC §1): changeable, not
	// unique, kept under attributes; external_customer_id stays empty.
	{
		name:     "[email]: the id is an attribute named id",
		settings: []identity.Settings{emailOnly, allow(merge(emailOnly))},
		row:      person("u1", "a@x.io", "plan", "pro"),
		result:   record.Created,
		people:   []string{`|a@x.io|{"id":"u1","plan":"pro"}`},
		find:     map[string]string{"A@X.IO": `|a@x.io|{"id":"u1","plan":"pro"}`, "u1": ""},
	},
	{
		name:     "[email]: a row found by email changes the id",
		settings: []identity.Settings{emailOnly, allow(merge(emailOnly))},
		given:    []record.Record{person("u1", "a@x.io")},
		row:      person("u2", "a@x.io", "plan", "pro"),
		result:   record.Updated,
		people:   []string{`|a@x.io|{"id":"u2","plan":"pro"}`},
	},
	{
		name:     "[email]: cio_id finds the person and changes the id",
		settings: []identity.Settings{emailOnly},
		given:    []record.Record{person("u1", "a@x.io")},
		row:      byCio("cio_@0", "u2", "", "plan", "pro"),
		result:   record.Updated,
		people:   []string{`|a@x.io|{"id":"u2","plan":"pro"}`},
	},
	{
		name:     "[email]: cio_id sets an unset id",
		settings: []identity.Settings{emailOnly},
		given:    []record.Record{person("", "a@x.io")},
		row:      byCio("@0", "u1", ""),
		result:   record.Updated,
		people:   []string{`|a@x.io|{"id":"u1"}`},
	},
	{
		name:     "[email]: a row equal to the stored person changes nothing",
		settings: []identity.Settings{emailOnly},
		given:    []record.Record{person("u1", "a@x.io", "a", 1)},
		row:      person("u1", "A@x.io", "a", 1),
		result:   record.Unchanged,
	},
	{
		name:     "[email]: an id beside an attribute named id is an attribute given twice",
		settings: []identity.Settings{emailOnly},
		row:      person("u1", "a@x.io", "id", "u2"),
		result:   record.Rejected, reason: identity.ReasonDuplicateAttribute,
	},

	// Case rules.
	{
		name:     "ids are case-sensitive: AB100 and ab100 are two people",
		settings: []identity.Settings{idEmail, idOnly},
		given:    []record.Record{person("AB100", "")},
		row:      person("ab100", ""),
		result:   record.Created,
		people:   []string{`AB100||{}`, `ab100||{}`},
		find:     map[string]string{"AB100": `AB100||{}`, "ab100": `ab100||{}`, "Ab100": ""},
	},
	{
		name:     "emails are case-insensitive and keep the case first given",
		settings: []identity.Settings{idEmail, emailOnly},
		given:    []record.Record{person("", "A@X.io")},
		row:      person("", "a@x.io", "plan", "pro"),
		result:   record.Updated,
		people:   []string{`|A@X.io|{"plan":"pro"}`},
		find:     map[string]string{"a@X.IO": `|A@X.io|{"plan":"pro"}`},
	},

	// §2 attributes.
	{
		name:     "an update sets the given attributes and leaves the others",
		settings: []identity.Settings{idEmail, idOnly},
		given:    []record.Record{person("u1", "", "a", 1, "b", 2)},
		row:      person("u1", "", "b", 3, "c", map[string]any{"n": []int{1, 2}}),
		result:   record.Updated,
		people:   []string{`u1||{"a":1,"b":3,"c":{"n":[1,2]}}`},
	},
	{
		name:     "a row equal to the stored person changes nothing",
		settings: []identity.Settings{idEmail, idOnly},
		given:    []record.Record{person("u1", "a@x.io", "a", 1, "b", "x")},
		row:      person("u1", "a@x.io", "b", "x", "a", 1),
		result:   record.Unchanged,
		people:   []string{`u1|a@x.io|{"a":1,"b":"x"}`},
	},
	{
		name:     "a nil value (nulls: unset) removes the attribute",
		settings: []identity.Settings{idEmail},
		given:    []record.Record{person("u1", "", "a", 1, "b", 2)},
		row:      person("u1", "", "a", nil),
		result:   record.Updated,
		people:   []string{`u1||{"b":2}`},
	},
	{
		name:     "unsetting an attribute the person lacks changes nothing",
		settings: []identity.Settings{idEmail},
		given:    []record.Record{person("u1", "", "b", 2)},
		row:      person("u1", "", "a", nil),
		result:   record.Unchanged,
		people:   []string{`u1||{"b":2}`},
	},

	// §2 limits.
	{
		name:     "an id of 150 bytes is kept whole",
		settings: []identity.Settings{idEmail, idOnly},
		row:      person(strings.Repeat("i", 150), ""),
		result:   record.Created,
		people:   []string{strings.Repeat("i", 150) + "||{}"},
	},
	{
		name:     "an id over 150 bytes is rejected",
		settings: []identity.Settings{idEmail, idOnly},
		row:      person(strings.Repeat("i", 151), ""),
		result:   record.Rejected, reason: identity.ReasonIDTooLong,
	},
	{
		name:     "an attribute name over 150 bytes is rejected",
		settings: []identity.Settings{idEmail},
		row:      person("u1", "", strings.Repeat("n", 151), 1),
		result:   record.Rejected, reason: identity.ReasonAttributeNameTooLong,
	},
	{
		name:     "a value of 1000 bytes is kept whole",
		settings: []identity.Settings{idEmail},
		row:      person("u1", "", "bio", strings.Repeat("é", 500)),
		result:   record.Created,
		people:   []string{`u1||{"bio":"` + strings.Repeat("é", 500) + `"}`},
	},
	{
		name:     "a value over 1000 bytes is rejected",
		settings: []identity.Settings{idEmail},
		row:      person("u1", "", "bio", strings.Repeat("x", 1001)),
		result:   record.Rejected, reason: identity.ReasonValueTooLong,
	},
	{
		name:     "a row over 300 attributes is rejected",
		settings: []identity.Settings{idEmail},
		row:      person("u1", "", manyAttrs(0, 301)...),
		result:   record.Rejected, reason: identity.ReasonTooManyAttributes,
	},
	{
		name:     "a row that takes a stored person over 300 attributes is rejected and changes nothing",
		settings: []identity.Settings{idEmail},
		given:    []record.Record{person("u1", "", manyAttrs(0, 299)...)},
		row:      person("u1", "a@x.io", manyAttrs(299, 2)...),
		result:   record.Rejected, reason: identity.ReasonTooManyAttributes,
		find: map[string]string{"a@x.io": ""},
	},
	{
		name:     "an id that is not valid UTF-8 is rejected",
		settings: []identity.Settings{idEmail},
		row:      record.Record{Key: "row-9", ID: "u\xff1"},
		result:   record.Rejected, reason: identity.ReasonInvalidValue,
	},

	// SPEC §10: a delete or suppress row finds its person by the rules above, and
	// creates no one.
	{
		name:     "delete by id",
		settings: []identity.Settings{idEmail, idOnly, allow(merge(idEmail))},
		given:    []record.Record{person("u1", "a@x.io", "plan", "pro"), person("u2", "b@x.io")},
		row:      deleting(person("u1", "")),
		result:   record.Deleted,
		people:   []string{`deleted:||{}`, `u2|b@x.io|{}`},
		find:     map[string]string{"u1": "", "a@x.io": "", "@0": ""},
	},
	{
		name:     "delete by email, in another case",
		settings: []identity.Settings{idEmail, emailOnly},
		given:    []record.Record{person("", "a@x.io", "plan", "pro")},
		row:      deleting(person("", "A@X.IO")),
		result:   record.Deleted,
		people:   []string{`deleted:||{}`},
		find:     map[string]string{"a@x.io": ""},
	},
	{
		name:     "delete by cio_id",
		settings: []identity.Settings{idEmail, idOnly, emailOnly},
		given:    []record.Record{person("u1", "a@x.io")},
		row:      deleting(byCio("cio_@0", "", "")),
		result:   record.Deleted,
		people:   []string{`deleted:||{}`},
	},
	{
		name:     "delete by a retired cio_id deletes the person it was merged into",
		settings: []identity.Settings{merge(idEmail)},
		given:    []record.Record{person("u1", ""), person("", "b@x.io"), person("u1", "b@x.io", "plan", "pro")},
		deleted:  nil,
		row:      deleting(byCio("@1", "", "")),
		result:   record.Deleted,
		people:   []string{`deleted:||{}`, `merged→||{}`},
		find:     map[string]string{"u1": "", "b@x.io": "", "@0": "", "@1": ""},
	},
	{
		name:     "delete by id and email of two people deletes the one the id finds",
		settings: []identity.Settings{idEmail, allow(merge(idEmail))},
		given:    []record.Record{person("u1", "a@x.io"), person("", "b@x.io")},
		row:      deleting(person("u1", "b@x.io")),
		result:   record.Deleted,
		people:   []string{`deleted:||{}`, `|b@x.io|{}`},
	},
	{
		name:     "a delete that finds no one is skipped and creates no one",
		settings: []identity.Settings{idEmail, idOnly, emailOnly},
		given:    []record.Record{person("u1", "a@x.io")},
		row:      deleting(person("u9", "z@x.io")),
		result:   record.Skipped, reason: identity.ReasonNotFound,
	},
	{
		name:     "a delete with an unknown cio_id is skipped",
		settings: []identity.Settings{idEmail},
		given:    []record.Record{person("u1", "a@x.io")},
		row:      deleting(byCio("cio_nobody", "u1", "")),
		result:   record.Skipped, reason: identity.ReasonCioIDNotFound,
	},
	{
		name:     "a delete of a deleted person's cio_id is skipped",
		settings: []identity.Settings{idEmail},
		given:    []record.Record{person("u1", "a@x.io")},
		deleted:  []int{0},
		row:      deleting(byCio("@0", "", "")),
		result:   record.Skipped, reason: identity.ReasonCioIDNotFound,
		people: []string{`deleted:||{}`},
	},
	{
		name:     "in an [email] workspace an id alone is no identifier for a delete either",
		settings: []identity.Settings{emailOnly},
		given:    []record.Record{person("u1", "a@x.io")},
		row:      deleting(person("u1", "")),
		result:   record.Rejected, reason: identity.ReasonNoIdentifier,
	},
	{
		name:     "a delete row's attributes are neither checked nor applied",
		settings: []identity.Settings{idEmail},
		given:    []record.Record{person("u1", "a@x.io")},
		row:      deleting(person("u1", "", "bio", strings.Repeat("x", 1001))),
		result:   record.Deleted,
		people:   []string{`deleted:||{}`},
	},
	{
		name:     "suppress by email",
		settings: []identity.Settings{idEmail, emailOnly},
		given:    []record.Record{person("u1", "a@x.io", "plan", "pro")},
		row:      suppressing(person("", "a@x.io")),
		result:   record.Suppressed,
		people:   []string{`deleted:||{}`},
		find:     map[string]string{"u1": "", "a@x.io": ""},
	},
	{
		name:     "a row both deleting and suppressing suppresses",
		settings: []identity.Settings{idEmail},
		given:    []record.Record{person("u1", "a@x.io")},
		row:      suppressing(deleting(person("u1", ""))),
		result:   record.Suppressed,
		people:   []string{`deleted:||{}`},
	},
}

func deleting(r record.Record) record.Record    { r.Delete = true; return r }
func suppressing(r record.Record) record.Record { r.Suppress = true; return r }

func manyAttrs(from, n int) []any {
	var kv []any
	for i := from; i < from+n; i++ {
		kv = append(kv, fmt.Sprintf("a%03d", i), i)
	}
	return kv
}

func TestRules(t *testing.T) {
	forEachStore(t, func(t *testing.T, backend testdb.Store) {
		for _, tc := range ruleCases {
			for _, s := range tc.settings {
				t.Run(tc.name+"/"+label(s), func(t *testing.T) {
					t.Parallel()
					runRuleCase(t, backend, s, tc)
				})
			}
		}
	})
}

func runRuleCase(t *testing.T, backend testdb.Store, s identity.Settings, tc ruleCase) {
	ctx := context.Background()
	b := setup(t, backend, s)
	if len(tc.given) > 0 {
		given := b.apply(t, tc.given...)
		for i, o := range given.recs {
			if o.Result == record.Rejected || o.Result == record.Skipped {
				t.Fatalf("given row %d: %s %s", i, o.Result, o.Detail)
			}
		}
	}
	for _, n := range tc.deleted {
		if err := b.st.DeletePerson(ctx, b.cio(n)); err != nil {
			t.Fatal(err)
		}
	}
	before := b.dump(t)
	batch := b.apply(t, tc.row)
	o := batch.recs[0]

	if o.Result != tc.result || o.Reason != tc.reason {
		t.Errorf("result = %s %q (%s), want %s %q", o.Result, o.Reason, o.Detail, tc.result, tc.reason)
	}
	if got := failures(o); !equal(got, tc.failed) {
		t.Errorf("failed changes = %q, want %q", got, tc.failed)
	}
	after := b.dump(t)
	want := tc.people
	if tc.result == record.Rejected || tc.result == record.Skipped || tc.result == record.Unchanged {
		if !equal(after, before) {
			t.Errorf("a %s row changed the store:\nbefore %q\nafter  %q", tc.result, before, after)
		}
		if len(batch.writes) != 0 {
			t.Errorf("a %s row wrote %d people", tc.result, len(batch.writes))
		}
		if want == nil {
			want = before
		}
	}
	want = append([]string(nil), want...)
	sort.Strings(want)
	if !equal(after, want) {
		t.Errorf("store =\n  %q\nwant\n  %q", after, want)
	}
	switch tc.result {
	case record.Rejected, record.Skipped:
		if o.Key != tc.row.Key {
			t.Errorf("the %s row's key is %q, want %q", tc.result, o.Key, tc.row.Key)
		}
		if len(o.Changes) != 0 {
			t.Errorf("a %s row logged %d changes", tc.result, len(o.Changes))
		}
	case record.Unchanged:
		if len(o.Changes) != len(tc.failed) {
			t.Errorf("an unchanged row logged %+v", o.Changes)
		}
	}
	for ident, wantDesc := range tc.find {
		if ref, ok := strings.CutPrefix(ident, "@"); ok {
			var n int
			fmt.Sscan(ref, &n)
			ident = "cio_" + b.cio(n)
		}
		p, err := b.st.FindPerson(ctx, s, ident)
		got := ""
		if err == nil {
			got = describe(*p)
		}
		if got != wantDesc {
			t.Errorf("people get %s = %q (%v), want %q", ident, got, err, wantDesc)
		}
	}
}
