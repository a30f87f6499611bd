package config

import (
	"errors"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// DefaultBatchBytes is batch_bytes when a sync leaves it out: with the read-ahead a
// run holds two batches, each also as mapped attributes and the store's statement,
// so some 35 MiB above the base whatever the rows' width (issue 18: ≤ 100 MiB).
const DefaultBatchBytes = ByteSize(4 << 20)

// ByteSize is a number of bytes written as a whole number with a unit, "8MiB",
// "16MB", "512KiB", or a plain whole number of bytes, "1048576". KB, MB and GB are
// powers of 1000, KiB, MiB and GiB of 1024; B is bytes; units ignore case and may
// follow a blank.
type ByteSize int64

// errByteSize is what ByteSize.UnmarshalYAML says about a value it cannot take. It
// never repeats the value, which may have come from the environment.
var errByteSize = errors.New("must be a size like 8MiB, 16MB or 1048576 (bytes)")

var units = map[string]int64{
	"": 1, "b": 1,
	"kb": 1000, "mb": 1000 * 1000, "gb": 1000 * 1000 * 1000,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30,
}

// ParseByteSize reads a size as ByteSize is written.
func ParseByteSize(s string) (ByteSize, error) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, errByteSize
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	mult, ok := units[strings.ToLower(strings.TrimSpace(s[i:]))]
	if err != nil || !ok || n > math.MaxInt64/mult {
		return 0, errByteSize
	}
	return ByteSize(n * mult), nil
}

// UnmarshalYAML reads a size (ParseByteSize).
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errByteSize
	}
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// MarshalYAML writes the size the way UnmarshalYAML reads it.
func (b ByteSize) MarshalYAML() (any, error) { return b.String(), nil }

// String is the size in the largest binary unit that divides it ("8MiB"), else in bytes.
func (b ByteSize) String() string {
	for _, u := range []struct {
		name string
		size ByteSize
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if b != 0 && b%u.size == 0 {
			return strconv.FormatInt(int64(b/u.size), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(b), 10)
}
