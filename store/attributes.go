package store

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// decodeAttributes reads a stored attributes object (attributeEncoder's text, or
// any JSON) into a map of each name's raw JSON value, exactly as json.Unmarshal into
// a map[string]json.RawMessage would, only without its reflection: every person a
// batch loads is decoded, and json.Unmarshal took a few microseconds and a score of
// allocations each. The values share one copy of the text, each a capped slice of
// it; a name is a substring of s unless it holds an escape. Empty text or null is
// no attributes. FuzzDecodeAttributes holds it to json.Unmarshal.
func decodeAttributes(s string) (map[string]json.RawMessage, error) {
	if s == "" {
		return map[string]json.RawMessage{}, nil
	}
	b := []byte(s)
	i := skipSpace(b, 0)
	if !json.Valid(b) || i >= len(b) || b[i] != '{' {
		return unmarshalAttributes(b) // not an object (null, an array, broken text)
	}
	// b is a valid JSON object: the scan below need only find where each part ends.
	type pair struct {
		name       string
		start, end int
	}
	var stack [16]pair
	pairs := stack[:0]
	i = skipSpace(b, i+1)
	for i < len(b) && b[i] != '}' {
		end := stringEnd(b, i)
		name := s[i+1 : end-1]
		if strings.IndexByte(name, '\\') >= 0 || !utf8.ValidString(name) {
			name = unquote(b[i:end])
		}
		i = skipSpace(b, end)
		i = skipSpace(b, i+1) // the colon
		start := i
		i = valueEnd(b, i)
		pairs = append(pairs, pair{name, start, i})
		i = skipSpace(b, i)
		if b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	attrs := make(map[string]json.RawMessage, len(pairs))
	for _, p := range pairs {
		attrs[p.name] = b[p.start:p.end:p.end] // a later duplicate wins, as in json.Unmarshal
	}
	return attrs, nil
}

// unmarshalAttributes is json.Unmarshal's answer, for text decodeAttributes does not read itself.
func unmarshalAttributes(b []byte) (map[string]json.RawMessage, error) {
	attrs := map[string]json.RawMessage{}
	if err := json.Unmarshal(b, &attrs); err != nil {
		return nil, err
	}
	return attrs, nil
}

// unquote reads a valid JSON string as json.Unmarshal does (escapes, and invalid
// UTF-8 as U+FFFD).
func unquote(q []byte) string {
	var s string
	_ = json.Unmarshal(q, &s) // valid: decodeAttributes checked the whole text
	return s
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index just past the string that starts at b[i] ('"').
func stringEnd(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// valueEnd returns the index just past the valid JSON value that starts at b[i].
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = stringEnd(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	}
	for i < len(b) && !strings.ContainsRune(",}] \t\n\r", rune(b[i])) {
		i++
	}
	return i
}
