package store

import (
	"errors"
	"net/url"
	"regexp"
	"strings"
	"unicode"

	"github.com/lib/pq"
)

// ErrBadDSN means the store's DSN does not parse: a config error (exit 2), reported
// without any part of the DSN, which may hold a password.
var ErrBadDSN = errors.New("store.dsn: not a DSN the store driver takes")

// dsnError says what is wrong with a DSN in words of its own, quoting nothing of it.
type dsnError struct{ problem string }

func (e *dsnError) Error() string        { return "store.dsn: " + e.problem }
func (e *dsnError) Is(target error) bool { return target == ErrBadDSN }

// CheckDSN reports a store DSN that the driver would refuse to parse, as an error
// wrapping ErrBadDSN that quotes nothing of the DSN.
func CheckDSN(driver, dsn string) error {
	switch driver {
	case "", "sqlite":
		_, err := sqliteFile(dsn)
		return err
	case "postgres":
		return checkPostgresDSN(dsn)
	}
	_, err := dialectFor(driver)
	return err
}

func isPostgresURL(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

func checkPostgresDSN(dsn string) error {
	if isPostgresURL(dsn) {
		if _, err := url.Parse(dsn); err != nil {
			return &dsnError{"not a valid postgres:// URL: " + urlProblem(err)}
		}
	} else if _, err := parseKeyValues(dsn); err != nil {
		return err
	}
	if _, err := pq.NewConfig(dsn); err != nil {
		return &dsnError{"the PostgreSQL driver refuses it: " + redactText(dsn, err.Error())}
	}
	return nil
}

// urlProblem names what url.Parse found wrong, without its message: that quotes the URL.
func urlProblem(err error) string {
	var esc url.EscapeError
	if errors.As(err, &esc) {
		return "an invalid %-escape (write a % in a password as %25)"
	}
	var host url.InvalidHostError
	if errors.As(err, &host) {
		return "an invalid character in the host"
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "invalid port"):
		return "an invalid port (digits only, after the host)"
	case strings.Contains(msg, "missing ']'"):
		return "a host that opens [ and does not close it"
	case strings.Contains(msg, "invalid userinfo"):
		return "a character in the user or password that must be %-escaped (a space, /, @ or :)"
	case strings.Contains(msg, "control character"):
		return "a control character"
	}
	return "it does not parse"
}

// parseKeyValues reads a key=value DSN the way the PostgreSQL driver does
// (libpq's conninfo: 'quoted values', \ escapes), with errors that quote nothing.
func parseKeyValues(dsn string) (map[string]string, error) {
	opts := map[string]string{}
	s := []rune(dsn)
	i := 0
	skip := func() {
		for i < len(s) && unicode.IsSpace(s[i]) {
			i++
		}
	}
	for {
		skip()
		if i >= len(s) {
			return opts, nil
		}
		start := i
		for i < len(s) && !unicode.IsSpace(s[i]) && s[i] != '=' {
			i++
		}
		key := string(s[start:i])
		skip()
		if i >= len(s) || s[i] != '=' {
			return nil, &dsnError{`a word without "=" in the key=value DSN (a value with spaces needs 'quotes')`}
		}
		i++
		skip()
		var val []rune
		if i < len(s) && s[i] == '\'' {
			i++
			for {
				if i >= len(s) {
					return nil, &dsnError{"a quoted value in the key=value DSN is not closed"}
				}
				r := s[i]
				i++
				if r == '\'' {
					break
				}
				if r == '\\' && i < len(s) {
					r = s[i]
					i++
				}
				val = append(val, r)
			}
		} else {
			for i < len(s) && !unicode.IsSpace(s[i]) {
				r := s[i]
				i++
				if r == '\\' {
					if i >= len(s) {
						return nil, &dsnError{"a \\ at the end of the key=value DSN"}
					}
					r = s[i]
					i++
				}
				val = append(val, r)
			}
		}
		opts[key] = string(val)
	}
}

// secrets lists what in a DSN may be a password, in the forms it may be printed in.
func secrets(dsn string) []string {
	var out []string
	if isPostgresURL(dsn) {
		rest := dsn[strings.Index(dsn, "://")+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			userinfo := rest[:at]
			out = append(out, userinfo)
			if _, pw, ok := strings.Cut(userinfo, ":"); ok {
				out = append(out, pw)
				if dec, err := url.PathUnescape(pw); err == nil {
					out = append(out, dec)
				}
			}
		}
	}
	if opts, err := parseKeyValues(dsn); err == nil && opts["password"] != "" {
		out = append(out, opts["password"])
	}
	for _, m := range passwordValue.FindAllStringSubmatch(dsn, -1) {
		out = append(out, m[1], strings.Trim(m[1], "'"))
	}
	if u, err := url.Parse(dsn); err == nil {
		if pw := u.Query().Get("password"); pw != "" {
			out = append(out, pw)
		}
	}
	return out
}

// passwordValue finds password=... in a key=value DSN or a URL's query, however
// malformed the rest is.
var passwordValue = regexp.MustCompile(`password\s*=\s*('[^']*'?|[^\s&]+)`)

// redactText hides the DSN and anything in it that may be a password.
func redactText(dsn, msg string) string {
	path, query, hasQuery := strings.Cut(dsn, "?")
	switch {
	case dsn == "" || !isPostgresURL(dsn) && !strings.Contains(dsn, "="):
		// A SQLite file name: nothing secret in it.
	case !isPostgresURL(dsn) && hasQuery && !strings.ContainsAny(path, "= "):
		// A SQLite file: URI: its query is not shown.
		msg = strings.ReplaceAll(msg, dsn, path)
		msg = strings.ReplaceAll(msg, query, "…")
	default:
		msg = strings.ReplaceAll(msg, dsn, "<store dsn>")
	}
	for _, p := range secrets(dsn) {
		// A very short secret is only hidden with the whole DSN: on its own it would
		// blank out ordinary words.
		if len(p) >= 3 {
			msg = strings.ReplaceAll(msg, p, "xxxxx")
		}
	}
	return msg
}

// redacted is an error whose message has the store DSN's secrets hidden; it still
// unwraps to the original for errors.Is and errors.As.
type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.err }

func redact(dsn string, err error) error {
	if err == nil {
		return nil
	}
	return &redacted{msg: redactText(dsn, err.Error()), err: err}
}
