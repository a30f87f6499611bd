package identity

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/dbsync/dbsync/record"
)

// ValidEmail reports whether s looks like an address: one @, a non-empty local part
// and domain, and no spaces or control characters.
func ValidEmail(s string) bool {
	at := strings.IndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || strings.IndexByte(s[at+1:], '@') >= 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return utf8.ValidString(s)
}

// EmailKey is the match key of an email: emails are case-insensitive. It is the one
// folding of email case (SPEC §1), on both stores and in every command.
func EmailKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// TrimCioPrefix accepts a cio_id with or without the cio_ prefix.
func TrimCioPrefix(s string) string { return strings.TrimPrefix(s, "cio_") }

// row is a record's row after the checks that need no store: identifiers cleaned, limits
// checked, rule 2 applied.
type row struct {
	key      string
	hasCio   bool   // the row gives a cio_id, if only the prefix
	cio      string // without the prefix; "" (only the prefix) is a cio_id no one has
	id       string
	email    string
	emailKey string
	attrs    []record.Attr
	failed   []failure // failed changes known before resolution (invalid_email)
}

type failure struct {
	attribute string
	value     string
	reason    string
}

// rejection is why a row cannot be applied at all.
type rejection struct {
	reason string
	detail string
}

func (r *rejection) Error() string { return r.reason + ": " + r.detail }

func reject(reason, format string, args ...any) *rejection {
	return &rejection{reason: reason, detail: fmt.Sprintf(format, args...)}
}

// prepare checks a row against everything that does not depend on the store.
func prepare(s Settings, in *record.Record) (row, *rejection) {
	r := row{key: printable(in.Key), attrs: in.Attrs}
	if err := checkText("cio_id", in.CioID); err != nil {
		return r, err
	}
	if err := checkText("id", in.ID); err != nil {
		return r, err
	}
	if err := checkText("email", in.Email); err != nil {
		return r, err
	}
	r.hasCio, r.cio = in.CioID != "", TrimCioPrefix(in.CioID)
	r.id = in.ID

	email := strings.TrimSpace(in.Email)
	switch {
	case email == "":
	case len(email) > MaxValueBytes:
		return r, reject(ReasonValueTooLong, "email (%d bytes > %d)", len(email), MaxValueBytes)
	case !ValidEmail(email):
		r.failed = append(r.failed, failure{attribute: "email", value: in.Email, reason: ReasonInvalidEmail})
	default:
		r.email = email
	}

	// Rule 2: an id that is an email address is the email, when email identifies and
	// the row has no email of its own.
	if s.EmailIdentifies && email == "" && r.id != "" && ValidEmail(r.id) {
		r.email, r.id = r.id, ""
	}
	if len(r.id) > MaxIDBytes {
		return r, reject(ReasonIDTooLong, "id (%d bytes > %d)", len(r.id), MaxIDBytes)
	}
	if r.email != "" {
		r.emailKey = EmailKey(r.email)
	}
	// In an [email] workspace the id is an ordinary attribute (SPEC §1): changeable,
	// not unique, kept under attributes as "id".
	if !s.IDIdentifies && r.id != "" {
		r.attrs = append(append(make([]record.Attr, 0, len(in.Attrs)+1), record.Attr{Name: "id", Value: stringJSON(r.id)}), in.Attrs...)
		r.id = ""
	}

	// Rule 1: at least one identifier the workspace accepts.
	if !r.hasCio && !(s.IDIdentifies && r.id != "") && !(s.EmailIdentifies && r.email != "") {
		if s.EmailIdentifies && len(r.failed) > 0 {
			return r, reject(ReasonInvalidEmail, "email %q is not an address, and the row has no other identifier", in.Email)
		}
		return r, reject(ReasonNoIdentifier, "the row has none of cio_id, %s", strings.Join(s.Identifiers(), ", "))
	}

	if why := checkAttributes(r.attrs); why != nil {
		return r, why
	}
	return r, nil
}

// prepareIdentifiers prepares a record's identifiers alone, as a people row carrying
// only them would be (Resolve). The record's attributes are not the person's; and a
// row that changes no one stores no attribute (the id of an [email] workspace) and
// records no refused change (an email that is not an address) either.
func prepareIdentifiers(s Settings, in *record.Record) (row, *rejection) {
	r, bad := prepare(s, &record.Record{Key: in.Key, CioID: in.CioID, ID: in.ID, Email: in.Email})
	r.attrs, r.failed = nil, nil
	return r, bad
}

func checkText(field, s string) *rejection {
	if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
		return reject(ReasonInvalidValue, "%s is not valid UTF-8 text or holds NUL", field)
	}
	return nil
}

// valueSize is the size a value counts against the limit: a string's own bytes,
// anything else its JSON text.
func valueSize(v json.RawMessage) int {
	if len(v) <= MaxValueBytes || v[0] != '"' {
		return len(v)
	}
	if bytes.IndexByte(v, '\\') < 0 {
		return len(v) - 2
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return len(v)
	}
	return len(s)
}

// printable makes a row key safe to store and show: a key is recorded even when it
// is not valid text.
func printable(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", "\\0"), "\uFFFD")
}
