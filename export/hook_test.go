package export

// WithAfterStep sets a hook that runs after each step of an export (claim, write,
// rename, publish): tests stop an export there, as a crash would, or slow it down.
func WithAfterStep(o Options, f func(step string) error) Options {
	o.afterStep = f
	return o
}
