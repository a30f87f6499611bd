// Package jsontext writes JSON strings the way dbsync stores them: escaping only what
// JSON requires (no HTML escaping: "<" stays "<"), so equal text is equal bytes.
// encoding/json does the same job through reflection at several times the cost, on
// a path every row takes.
package jsontext

const hex = "0123456789abcdef"

// AppendString appends s to b as a JSON string. s must be valid UTF-8.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
