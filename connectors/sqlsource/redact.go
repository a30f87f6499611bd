package sqlsource

import (
	"net/url"
	"regexp"
	"strings"
)

// Redact hides the password in err's message, and the DSN whole if it is still
// there (with a password too short to hide on its own), so a DSN that fails to
// parse is not echoed back with its password. The returned error still unwraps
// to err for errors.Is and errors.As.
func Redact(err error, dsn string, password string) error {
	if err == nil {
		return nil
	}
	passwords := []string{password}
	if u, perr := url.Parse(dsn); perr == nil && u.User != nil {
		p, _ := u.User.Password()
		passwords = append(passwords, p, url.QueryEscape(p))
	}
	for _, m := range passwordInDSN.FindAllStringSubmatch(dsn, -1) {
		passwords = append(passwords, m[1], strings.Trim(m[2], "'"))
	}
	msg := err.Error()
	for _, p := range passwords {
		// A short password is only hidden with the whole DSN below: on its own
		// it would blank out ordinary words.
		if len(p) >= 4 {
			msg = strings.ReplaceAll(msg, p, "xxxxx")
		}
	}
	if dsn != "" {
		msg = strings.ReplaceAll(msg, dsn, "<dsn>")
	}
	return &redacted{msg: msg, err: err}
}

// passwordInDSN finds the password of a URL (user:password@) or of a key=value
// DSN (password=...).
var passwordInDSN = regexp.MustCompile(`(?:^|[/\s])[^/@\s:]*:([^@\s]+)@|password=('[^']*'|\S+)`)

type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.err }
