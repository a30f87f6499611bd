// Package dsn finds the password in a database DSN however malformed it is, so
// that no error shows it: a URL (postgres://user:password@host/db), a key=value
// DSN (host=h password='p w'), or go-sql-driver's form (user:password@tcp(h)/db).
// A driver that cannot parse a DSN often echoes part of it ("invalid port
// \":s3cr\"" for a # in a URL's password); parsing Redacted instead gives the
// same error about the rest of the DSN without any of the password.
package dsn

import (
	"net/url"
	"regexp"
	"strings"
)

// Mask stands for a password in a redacted DSN.
const Mask = "xxxxx"

// Password is the password written in dsn, as written (escapes, quotes and all),
// and where it is: dsn[start:end]. ok is false when dsn holds none.
func Password(dsn string) (pw string, start, end int, ok bool) {
	if m := keyValue.FindStringSubmatchIndex(dsn); m != nil {
		inQuery := dsn[m[0]] == '?' || dsn[m[0]] == '&' // a URL's ?password=
		start, end = m[2], valueEnd(dsn, m[2], inQuery)
		return dsn[start:end], start, end, true
	}
	from := 0
	if i := strings.Index(dsn, "://"); i >= 0 {
		from = i + 3
	}
	rest := dsn[from:]
	// The userinfo ends at the @ before the address: go-sql-driver's @tcp( or
	// @unix(, else the last @ (a URL's host holds none; an @ further on, in a
	// parameter, only hides more).
	at := -1
	for _, net := range []string{"@tcp(", "@tcp6(", "@unix(", "@("} {
		if i := strings.LastIndex(rest, net); i > at {
			at = i
		}
	}
	if at < 0 {
		at = strings.LastIndex(rest, "@")
	}
	if at < 0 {
		return "", 0, 0, false
	}
	colon := strings.IndexByte(rest[:at], ':')
	if colon < 0 {
		return "", 0, 0, false
	}
	start, end = from+colon+1, from+at
	return dsn[start:end], start, end, true
}

// keyValue finds a key=value DSN's password.
var keyValue = regexp.MustCompile(`(?i)(?:^|[\s?&])password\s*=\s*()`)

// valueEnd is the end of a key=value DSN's value starting at i: a quoted one
// ends at its closing quote (a backslash escapes), any other before the next
// key=, or in a URL's query at an &.
func valueEnd(s string, i int, inQuery bool) int {
	if i < len(s) && s[i] == '\'' {
		for j := i + 1; j < len(s); j++ {
			switch s[j] {
			case '\\':
				j++
			case '\'':
				return j + 1
			}
		}
		return len(s)
	}
	if inQuery {
		if j := strings.IndexByte(s[i:], '&'); j >= 0 {
			return i + j
		}
		return len(s)
	}
	// An unquoted value with a blank in it runs on to the next key=.
	if m := nextKey.FindStringIndex(s[i:]); m != nil {
		return i + m[0]
	}
	return len(strings.TrimRight(s, " \t\r\n"))
}

// nextKey is the blank and key= after a key=value DSN's value.
var nextKey = regexp.MustCompile(`\s+[A-Za-z_]+\s*=`)

// Redacted is dsn with its password replaced by Mask.
func Redacted(dsn string) string {
	_, start, end, ok := Password(dsn)
	if !ok {
		return dsn
	}
	return dsn[:start] + Mask + dsn[end:]
}

// Forms are the ways a password written in a DSN may show in a message: as
// written, unquoted, unescaped, escaped again, and each piece between the
// characters a parser splits at (# ? / @ : % and blanks), which is what a
// driver echoes when it stops at one. Pieces shorter than 4 bytes are left
// out: hidden on their own they would blank out ordinary words.
func Forms(pw string) []string {
	forms := []string{pw, strings.Trim(pw, "'"), url.QueryEscape(pw), url.PathEscape(pw)}
	if u, err := url.PathUnescape(pw); err == nil {
		forms = append(forms, u, url.QueryEscape(u))
	}
	pieces := strings.FieldsFunc(pw, func(r rune) bool { return strings.ContainsRune("#?/@:%'\\ \t\r\n", r) })
	forms = append(forms, pieces...)
	out := forms[:0]
	for _, f := range forms {
		if len(f) >= 4 {
			out = append(out, f)
		}
	}
	return out
}
