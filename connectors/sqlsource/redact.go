package sqlsource

import (
	"strings"

	"github.com/dbsync/dbsync/internal/dsn"
)

// Redact hides the password in err's message, in every form it may show there
// (see dsn.Forms), and the DSN whole if it is still there (with a password too
// short to hide on its own), so a DSN that fails to parse is not echoed back
// with its password. The returned error still unwraps to err for errors.Is and
// errors.As.
func Redact(err error, source string, password string) error {
	if err == nil {
		return nil
	}
	passwords := dsn.Forms(password)
	if pw, _, _, ok := dsn.Password(source); ok {
		passwords = append(passwords, dsn.Forms(pw)...)
	}
	msg := err.Error()
	if source != "" {
		msg = strings.ReplaceAll(msg, source, "<dsn>")
	}
	for _, p := range passwords {
		msg = strings.ReplaceAll(msg, p, dsn.Mask)
	}
	return &redacted{msg: msg, err: err}
}

type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.err }
