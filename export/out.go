package export

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"gocloud.dev/blob"
	"gocloud.dev/blob/gcsblob"
	"gocloud.dev/blob/s3blob"
	"gocloud.dev/gcerrors"
	"gocloud.dev/gcp"
)

// ErrBadOut wraps an --out value that names no place an export can go: an unknown
// scheme, a malformed URL or unknown URL options. It is refused before anything is written.
var ErrBadOut = errors.New("bad export destination")

// blobBufferSize is what a bucket writer holds before it uploads a part: S3's
// smallest multipart part, so an export's memory stays small with six files open.
const blobBufferSize = 5 << 20

// Out is where an export's files go: a directory (a plain path or file:///path), or a
// prefix in an object-store bucket (s3://bucket/prefix, gs://bucket/prefix).
type Out struct {
	dir    string       // the directory; "" for a bucket
	bucket *blob.Bucket // nil for a directory
	prefix string       // the keys' prefix in bucket: "" or ending in "/"
	shown  string       // the URL without its query or user info, for output and the store
}

// OpenOut reads an --out value. A bucket is opened (its credentials looked up), not
// contacted. An error wraps ErrBadOut when the value itself is wrong.
func OpenOut(ctx context.Context, s string) (*Out, error) {
	if !strings.Contains(s, "://") {
		if s == "" {
			return nil, fmt.Errorf("%w: no directory given", ErrBadOut)
		}
		dir, err := filepath.Abs(s)
		if err != nil {
			return nil, err
		}
		return &Out{dir: dir}, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		// url.Parse quotes the whole value, which may hold a password: say only what is wrong.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%w: not a URL: %v", ErrBadOut, err)
	}
	scheme := strings.ToLower(u.Scheme)
	switch scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("%w: file URL with a host %q: want file:///path", ErrBadOut, u.Host)
		}
		if u.Path == "" || u.RawQuery != "" {
			return nil, fmt.Errorf("%w: want file:///path", ErrBadOut)
		}
		return &Out{dir: filepath.Clean(filepath.FromSlash(u.Path))}, nil
	case "s3", "gs":
	default:
		return nil, fmt.Errorf("%w: unknown scheme %q in --out (want a directory, s3://, gs:// or file://)", ErrBadOut, u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%w: %s:// URL without a bucket", ErrBadOut, scheme)
	}
	o := &Out{prefix: strings.Trim(u.Path, "/")}
	if o.prefix != "" {
		o.prefix = path.Clean(o.prefix) + "/"
	}
	o.shown = scheme + "://" + u.Host + "/" + o.prefix
	bu := &url.URL{Scheme: scheme, Host: u.Host, RawQuery: u.RawQuery}
	switch scheme {
	case "s3":
		// Fails only on the URL's options (an unknown one, a bad value).
		if o.bucket, err = (&s3blob.URLOpener{}).OpenBucketURL(ctx, bu); err != nil {
			return nil, fmt.Errorf("%w: %s: %s", ErrBadOut, o.shown, redactErr(err, u))
		}
	case "gs":
		o.bucket, err = openGCS(ctx, bu)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %s", o.shown, redactErr(err, u))
	}
	return o, nil
}

// openGCS opens a gs:// bucket with Application Default Credentials, or without any
// when STORAGE_EMULATOR_HOST names an emulator. (gcsblob's own opener prints a
// warning to stdout and goes on without credentials when there are none.)
func openGCS(ctx context.Context, u *url.URL) (*blob.Bucket, error) {
	if os.Getenv("STORAGE_EMULATOR_HOST") != "" {
		return blob.DefaultURLMux().OpenBucketURL(ctx, u)
	}
	creds, err := gcp.DefaultCredentials(ctx)
	if err != nil {
		return nil, fmt.Errorf("Application Default Credentials: %w", err)
	}
	client, err := gcp.NewHTTPClient(gcp.DefaultTransport(), creds.TokenSource)
	if err != nil {
		return nil, err
	}
	return (&gcsblob.URLOpener{Client: client}).OpenBucketURL(ctx, u)
}

// redactErr drops u's query (an endpoint with a password) from what err says.
func redactErr(err error, u *url.URL) string {
	msg := err.Error()
	if u.RawQuery != "" {
		msg = strings.ReplaceAll(msg, u.RawQuery, "…")
		if q, qerr := url.QueryUnescape(u.RawQuery); qerr == nil {
			msg = strings.ReplaceAll(msg, q, "…")
		}
	}
	return msg
}

// String is the directory, or the URL without its query or user info.
func (o *Out) String() string {
	if o.bucket == nil {
		return o.dir
	}
	return o.shown
}

// Close releases the bucket.
func (o *Out) Close() error {
	if o.bucket == nil {
		return nil
	}
	return o.bucket.Close()
}

// path is where a file named name is, as output and recorded in the store.
func (o *Out) path(name string) string {
	if o.bucket == nil {
		return filepath.Join(o.dir, name)
	}
	return o.shown + name
}

func (o *Out) prepare() error {
	if o.bucket != nil {
		return nil
	}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return fmt.Errorf("export directory: %w", err)
	}
	return nil
}

// exists says whether a file named name is there.
func (o *Out) exists(ctx context.Context, name string) (bool, error) {
	if o.bucket == nil {
		_, err := os.Stat(o.path(name))
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		return err == nil, err
	}
	ok, err := o.bucket.Exists(ctx, o.prefix+name)
	if err != nil {
		return false, fmt.Errorf("%s: %w", o.path(name), err)
	}
	return ok, nil
}

// sync makes the renames into a directory durable.
func (o *Out) sync() error {
	if o.bucket == nil {
		return syncDir(o.dir)
	}
	return nil
}

// create opens the file name for writing; it is seen only once published.
func (o *Out) create(ctx context.Context, name string) (sink, error) {
	if o.bucket == nil {
		f, err := os.OpenFile(filepath.Join(o.dir, tmpName(name)), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, err
		}
		return &fileSink{dir: o.dir, name: name, f: f}, nil
	}
	// A bucket writer's upload is committed by Close and abandoned if its context ends
	// first: an object is seen whole or not at all.
	ctx, cancel := context.WithCancel(ctx)
	w, err := o.bucket.NewWriter(ctx, o.prefix+name, &blob.WriterOptions{
		BufferSize: blobBufferSize, ContentType: contentType(name),
	})
	if err != nil {
		cancel()
		return nil, err
	}
	return &blobSink{w: w, cancel: cancel}, nil
}

// readManifest reads the manifest at p, a path this Out gave (or a directory's, from
// an export to a directory).
func (o *Out) readManifest(ctx context.Context, p string) (*Manifest, error) {
	if !strings.Contains(p, "://") {
		return ReadManifest(p)
	}
	if o.bucket == nil || !strings.HasPrefix(p, o.shown) {
		// Went to another bucket, which this run cannot read (its URL's query is not
		// kept): redo the export here. Its changes are exported again, none lost.
		return nil, os.ErrNotExist
	}
	b, err := o.bucket.ReadAll(ctx, o.prefix+strings.TrimPrefix(p, o.shown))
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, os.ErrNotExist
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	return parseManifest(p, b)
}

// tables are the kinds of file an export writes, one of each per format.
var tableNames = []string{"people", "attributes", "objects", "object_attributes", "relationships"}

// tablePatterns match a table's files of export seq (fmt's %08d) in a directory.
var tablePatterns = func() []string {
	var out []string
	for _, t := range tableNames {
		out = append(out, t+"-%08d.*")
	}
	return out
}()

// removeUnpublished deletes what export seq left in place before it died without a
// manifest: temporary files, and files in place that no manifest names. dir is the
// directory an earlier export went to, for a directory.
func (o *Out) removeUnpublished(ctx context.Context, dir string, seq int64) {
	if o.bucket == nil || dir != "" {
		if dir == "" {
			dir = o.dir
		}
		for _, pattern := range append([]string{".*-%08d.*.tmp"}, tablePatterns...) {
			names, _ := filepath.Glob(filepath.Join(dir, fmt.Sprintf(pattern, seq)))
			for _, name := range names {
				os.Remove(name)
			}
		}
		return
	}
	for _, table := range tableNames {
		it := o.bucket.List(&blob.ListOptions{Prefix: o.prefix + fmt.Sprintf("%s-%08d.", table, seq), Delimiter: "/"})
		for {
			obj, err := it.Next(ctx)
			if err != nil {
				break
			}
			if !obj.IsDir {
				o.bucket.Delete(ctx, obj.Key)
			}
		}
	}
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".parquet":
		return "application/vnd.apache.parquet"
	case ".csv":
		return "text/csv; charset=utf-8"
	case ".ndjson":
		return "application/x-ndjson"
	case ".json":
		return "application/json"
	}
	return "application/octet-stream"
}

// sink is where one file's bytes go: a temporary file renamed into place, or a
// bucket upload committed at the end.
type sink interface {
	io.Writer
	flush() error   // what was written is durable, not yet seen
	publish() error // the file is seen, whole
	remove()        // an unpublished file is dropped
}

type fileSink struct {
	dir, name string
	f         *os.File
}

func (s *fileSink) Write(p []byte) (int, error) { return s.f.Write(p) }

func (s *fileSink) flush() error {
	err := s.f.Sync()
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (s *fileSink) publish() error {
	return os.Rename(filepath.Join(s.dir, tmpName(s.name)), filepath.Join(s.dir, s.name))
}

func (s *fileSink) remove() {
	s.f.Close()
	os.Remove(filepath.Join(s.dir, tmpName(s.name)))
}

type blobSink struct {
	w         *blob.Writer
	cancel    context.CancelFunc
	published bool
}

func (s *blobSink) Write(p []byte) (int, error) { return s.w.Write(p) }
func (s *blobSink) flush() error                { return nil }

func (s *blobSink) publish() error {
	err := s.w.Close()
	s.published = true
	s.cancel()
	return err
}

func (s *blobSink) remove() {
	if s.published {
		return
	}
	s.published = true
	s.cancel() // before Close: the upload is abandoned
	s.w.Close()
}
