package identity

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/dbsync/dbsync/internal/jsontext"
	"github.com/dbsync/dbsync/record"
)

// Planner applies the identity rules to batches of rows.
type Planner struct {
	Settings Settings
	Now      func() time.Time // when nil, time.Now
	NewCioID func() string    // when nil, NewCioID
}

// Plan resolves a batch's records to people as if they were applied one at a time in
// order (SPEC §1 rule 6), and fills in each record's outcome and changes. A record
// already refused (mapping rejected it) is passed over, so a caller planning records
// again clears the outcomes Plan gave them first. Plan loads every person the batch
// names with one call to l, applies the rules in memory and returns the people to
// write in their final state; it writes nothing itself.
func (pl *Planner) Plan(ctx context.Context, l Loader, sync string, recs []*record.Record) ([]Write, error) {
	return pl.plan(ctx, l, sync, recs, false)
}

// Resolve finds the person of each record of a batch that is not itself a person
// (a relationship or an event, SPEC §8 and §9) as a people row carrying only the
// record's identifiers would: the person that row would update, or a new person with
// the row's identifiers when it would create one. The row's attributes are not the
// person's and are neither checked nor applied here. An existing person is never
// changed: no identifier set or moved, no attribute, no merge, and no refused change
// recorded. The rules' other outcomes hold: no identifier is rejected, an unknown
// cio_id skipped, an id that is an email is the email, a deleted person is no one;
// and rows resolve as if one at a time, so a later row finds the person an earlier
// one created.
//
// Each record's Person is its person's cio_id, its Result Created when the person is
// new (its Changes then hold the profile_create entry) and Unchanged otherwise: the
// kind's planner decides the row's own result. A record that removes (rec.Remove)
// creates no one: when no one is found its Person stays empty. Resolve returns the
// writes of the new people only; it writes nothing itself.
func (pl *Planner) Resolve(ctx context.Context, l Loader, sync string, recs []*record.Record) ([]Write, error) {
	return pl.plan(ctx, l, sync, recs, true)
}

// plan is Plan, or Resolve when resolveOnly: one loading of the batch's people and
// one working set, so both see the store and earlier rows alike.
func (pl *Planner) plan(ctx context.Context, l Loader, sync string, recs []*record.Record, resolveOnly bool) ([]Write, error) {
	now := time.Now
	if pl.Now != nil {
		now = pl.Now
	}
	newID := NewCioID
	if pl.NewCioID != nil {
		newID = pl.NewCioID
	}
	p := &planner{
		s:       pl.Settings,
		sync:    sync,
		now:     now().Unix(),
		newID:   newID,
		changes: make([]record.Change, 0, len(recs)),
	}
	step := p.apply
	if resolveOnly {
		step = p.resolve
	}

	prepared := make([]row, len(recs))
	bad := make([]*rejection, len(recs))
	var keys, sup Keys
	for i, rec := range recs {
		if rec.Refused() {
			continue
		}
		rec.Key = printable(rec.Key)
		if resolveOnly || forgets(rec) {
			// A delete or suppress row applies none of its attributes (SPEC §10):
			// only its identifiers count, as for a relationship or an event row.
			prepared[i], bad[i] = prepareIdentifiers(p.s, rec)
		} else {
			prepared[i], bad[i] = prepare(p.s, rec)
		}
		if bad[i] != nil {
			continue
		}
		r := &prepared[i]
		// Every row is checked against the suppressions, a cio_id row too: it may
		// carry a suppressed id or email to set.
		if k := suppressionIDKey(p.s, r); k != "" {
			sup.IDs = append(sup.IDs, k)
		}
		if r.emailKey != "" && p.s.EmailIdentifies {
			sup.Emails = append(sup.Emails, r.emailKey)
		}
		if r.cio != "" {
			keys.CioIDs = append(keys.CioIDs, r.cio)
		}
		if resolveOnly && r.hasCio {
			continue // only the cio_id finds, and nothing is set
		}
		// Load every identifier a row names: a cio_id row may still set an id or
		// email, and must see who else holds it.
		if p.s.IDIdentifies && r.id != "" {
			keys.IDs = append(keys.IDs, r.id)
		}
		if p.s.EmailIdentifies && r.email != "" {
			keys.Emails = append(keys.Emails, r.emailKey)
		}
	}
	keys.IDs, keys.Emails, keys.CioIDs = dedupe(keys.IDs), dedupe(keys.Emails), dedupe(keys.CioIDs)

	var people []Person
	if len(keys.IDs)+len(keys.Emails)+len(keys.CioIDs) > 0 {
		var err error
		if people, err = l.LoadPeople(ctx, keys); err != nil {
			return nil, fmt.Errorf("load people: %w", err)
		}
	}
	p.ws = newWorkset(p.s, people, len(recs))
	// The suppressions after the people: see Loader.
	if sup.IDs, sup.Emails = dedupe(sup.IDs), dedupe(sup.Emails); len(sup.IDs)+len(sup.Emails) > 0 {
		held, err := l.Suppressed(ctx, sup)
		if err != nil {
			return nil, fmt.Errorf("load suppressions: %w", err)
		}
		p.ws.addSuppressed(held)
	}

	for i, rec := range recs {
		switch {
		case bad[i] != nil:
			rec.Reject(bad[i].reason, bad[i].detail)
		case rec.Refused():
		default:
			if which := p.ws.suppressedBy(&prepared[i]); which != "" {
				rec.Skip(ReasonSuppressed, "the row's "+which+" is suppressed")
				continue
			}
			step(rec, &prepared[i])
		}
	}
	return p.collectWrites(), nil
}

func dedupe(s []string) []string {
	if len(s) < 2 {
		return s
	}
	sort.Strings(s)
	out := s[:1]
	for _, v := range s[1:] {
		if v != out[len(out)-1] {
			out = append(out, v)
		}
	}
	return out
}

// forgets reports whether a row deletes or suppresses the person it finds (SPEC §10).
func forgets(rec *record.Record) bool { return rec.Delete || rec.Suppress }

// suppressionIDKey is the id a row is checked against the suppressions by: its id
// when id identifies. Only the workspace's identifiers are checked (see
// docs/decisions.md): where the id is an attribute, many people may share it.
func suppressionIDKey(s Settings, r *row) string {
	if s.IDIdentifies {
		return r.id
	}
	return ""
}

// entry is a person in the batch's working set.
type entry struct {
	Person
	stored         bool   // loaded from the store (not created in this batch)
	storedIDKey    string // keys as loaded, to know which must be cleared first
	storedEmailKey string
	dirty          bool
	suppress       Keys // what a suppression in this batch keeps of them
	forgot         Keys // the id and email they had, when this batch deleted them
}

// workset is the batch's view of the store: the loaded people plus every change made
// by earlier rows of the batch. Lookups here see exactly what a one-row-at-a-time run would.
type workset struct {
	s       Settings
	byCio   map[string]*entry
	byID    map[string]*entry // only when id identifies
	byEmail map[string]*entry // only when email identifies
	// The suppressed ids and folded emails the batch names, as the store holds them
	// and as earlier rows of the batch suppressed them.
	supIDs, supEmails map[string]bool
}

func (w *workset) addSuppressed(k Keys) {
	for _, id := range k.IDs {
		w.supIDs[id] = true
	}
	for _, e := range k.Emails {
		w.supEmails[e] = true
	}
}

// suppressedBy names the identifier of a row that a suppression holds: "id",
// "email", or "" when none.
func (w *workset) suppressedBy(r *row) string {
	if k := suppressionIDKey(w.s, r); k != "" && w.supIDs[k] {
		return "id"
	}
	if w.s.EmailIdentifies && r.emailKey != "" && w.supEmails[r.emailKey] {
		return "email"
	}
	return ""
}

// forget takes a person out of the working set (SPEC §10): no id or email finds them
// any more, and their cio_id finds no one.
func (w *workset) forget(e *entry) {
	if k := w.idKey(&e.Person); k != "" && w.byID[k] == e {
		delete(w.byID, k)
	}
	if k := w.emailKey(&e.Person); k != "" && w.byEmail[k] == e {
		delete(w.byEmail, k)
	}
}

// newWorkset holds the loaded people, with room for the rows' new ones.
func newWorkset(s Settings, people []Person, rows int) *workset {
	n := len(people) + rows
	w := &workset{
		s:         s,
		byCio:     make(map[string]*entry, n),
		byID:      make(map[string]*entry, n),
		byEmail:   make(map[string]*entry, n),
		supIDs:    map[string]bool{},
		supEmails: map[string]bool{},
	}
	for _, p := range people {
		e := &entry{Person: p, stored: true}
		if e.Attributes == nil {
			e.Attributes = map[string]json.RawMessage{}
		}
		if e.Deleted {
			// A deleted person is no one (SPEC §1): only their cio_id is known, so
			// that it is skipped; their id and email are free for someone new.
			w.byCio[e.CioID] = e
			continue
		}
		if !s.IDIdentifies && e.ID != "" {
			// Stored before the id was an attribute in [email] workspaces: it is one
			// now, and the person is written so when next changed.
			if _, ok := e.Attributes["id"]; !ok {
				e.Attributes["id"] = stringJSON(e.ID)
			}
			e.ID = ""
		}
		e.storedIDKey, e.storedEmailKey = w.idKey(&e.Person), w.emailKey(&e.Person)
		w.add(e)
	}
	return w
}

func (w *workset) idKey(p *Person) string {
	if !w.s.IDIdentifies {
		return ""
	}
	return p.ID
}

func (w *workset) emailKey(p *Person) string {
	if !w.s.EmailIdentifies || p.Email == "" {
		return ""
	}
	return EmailKey(p.Email)
}

func (w *workset) add(e *entry) {
	w.byCio[e.CioID] = e
	if k := w.idKey(&e.Person); k != "" {
		w.byID[k] = e
	}
	if k := w.emailKey(&e.Person); k != "" {
		w.byEmail[k] = e
	}
}

// findCio follows merges from a cio_id to the person who holds it now. Deleted and
// unknown cio_ids find no one.
func (w *workset) findCio(cio string) *entry {
	e := w.byCio[cio]
	for hops := 0; e != nil && e.MergedInto != "" && hops < 64; hops++ {
		e = w.byCio[e.MergedInto]
	}
	if e == nil || e.Deleted || e.MergedInto != "" {
		return nil
	}
	return e
}

// find looks a row's person up as rules 3 and 4 do: by the cio_id alone (ok is false
// when no one holds it), otherwise A by id and B by email, each nil when no one holds
// it or when the identifier does not identify in the workspace.
func (w *workset) find(r *row) (a, b *entry, ok bool) {
	if r.hasCio {
		a = w.findCio(r.cio)
		return a, nil, a != nil
	}
	if w.s.IDIdentifies && r.id != "" {
		a = w.byID[r.id]
	}
	if w.s.EmailIdentifies && r.email != "" {
		b = w.byEmail[r.emailKey]
	}
	return a, b, true
}

func (w *workset) setID(e *entry, id string) {
	e.ID = id
	if k := w.idKey(&e.Person); k != "" {
		w.byID[k] = e
	}
}

func (w *workset) setEmail(e *entry, email string) {
	if k := w.emailKey(&e.Person); k != "" && w.byEmail[k] == e {
		delete(w.byEmail, k)
	}
	e.Email = email
	if k := w.emailKey(&e.Person); k != "" {
		w.byEmail[k] = e
	}
}

type planner struct {
	s     Settings
	sync  string
	now   int64
	newID func() string
	ws    *workset
	dirty []*entry // changed people, in the order they first changed
	// changes holds the batch's change log, row after row: each record's Changes is
	// its part, so that a batch allocates its log once.
	changes []record.Change
}

func (p *planner) sameEmail(stored, given string) bool {
	if p.s.EmailIdentifies {
		return EmailKey(stored) == EmailKey(given)
	}
	return stored == given
}

// decision is where a row goes and which identifier changes it makes, decided before
// anything is changed so that a row over a limit changes nothing.
type decision struct {
	target    *entry // nil: create a person
	mergeFrom *entry
	setID     string
	setEmail  string
	failed    []failure
}

func (p *planner) apply(rec *record.Record, r *row) {
	d := decision{failed: r.failed}
	w := p.ws
	a, b, found := w.find(r)
	if !found {
		skipUnknownCio(rec, r)
		return
	}
	if forgets(rec) {
		p.forget(rec, r, a, b)
		return
	}
	if r.hasCio {
		// Rule 3: only cio_id finds the person.
		d.target = a
		t := d.target
		if r.id != "" && r.id != t.ID {
			switch other := w.byID[r.id]; {
			case t.ID != "":
				d.fail("id", r.id, ReasonIDChangeNotAllowed)
			case p.s.IDIdentifies && other != nil && other != t:
				d.fail("id", r.id, ReasonIDTaken)
			default:
				d.setID = r.id
			}
		}
		if r.email != "" && !p.sameEmail(t.Email, r.email) {
			if other := w.byEmail[r.emailKey]; p.s.EmailIdentifies && other != nil && other != t {
				d.fail("email", r.email, ReasonEmailTaken)
			} else {
				d.setEmail = r.email
			}
		}
	} else {
		// Rule 4: A by id, B by email.
		switch {
		case a == nil && b == nil:
			d.setID, d.setEmail = r.id, r.email
		case a != nil && (b == nil || b == a):
			d.target = a
			p.emailByID(&d, a, r.email, r.email)
		case a == nil:
			d.target = b
			if r.id != "" && r.id != b.ID {
				if b.ID != "" {
					d.fail("id", r.id, ReasonIDChangeNotAllowed)
				} else {
					d.setID = r.id // a lead becomes a customer
				}
			}
		default: // a and b are two people
			d.target = a
			if p.s.MergeDuplicates && b.ID == "" {
				d.mergeFrom = b
				p.emailByID(&d, a, r.email, b.Email)
			} else {
				d.fail("email", r.email, ReasonEmailTaken)
			}
		}
	}

	p.carryOut(rec, &d, r)
}

// carryOut checks a decision against the attribute limit and carries it out, giving
// the record its outcome and its part of the batch's change log.
func (p *planner) carryOut(rec *record.Record, d *decision, r *row) {
	if why := p.checkCount(d, r); why != nil {
		rec.Reject(why.reason, why.detail)
		return
	}
	start := len(p.changes)
	rec.Outcome = p.change(d, r)
	if end := len(p.changes); end > start {
		rec.Changes = p.changes[start:end:end]
	}
}

// forget deletes, or suppresses, the person a row finds (SPEC §10): by the cio_id
// alone, else A by id, else B by email. It creates no one: no one found is skipped
// (not_found). The person keeps only their cio_id, times and the deleted flag; the
// store erases the rest of what it holds of them when it writes them. Later rows see
// them gone: their id and email find no one (and create someone new, unless
// suppressed), their cio_id is not found.
func (p *planner) forget(rec *record.Record, r *row, a, b *entry) {
	e := a
	if e == nil {
		e = b
	}
	if e == nil {
		rec.Skip(ReasonNotFound, "no person has the row's identifiers")
		return
	}
	kind, result := record.ProfileDelete, record.Deleted
	if rec.Suppress {
		kind, result = record.ProfileSuppress, record.Suppressed
		e.suppress = SuppressionOf(&e.Person)
		p.ws.addSuppressed(e.suppress)
	}
	e.forgot = SuppressionOf(&e.Person)
	p.ws.forget(e)
	start := len(p.changes)
	p.log(r, e, kind, "", nil, nil, "")
	rec.Outcome = record.Outcome{Result: result, Person: e.CioID, Changes: p.changes[start:len(p.changes):len(p.changes)]}
	e.Person = Person{CioID: e.CioID, CreatedAt: e.CreatedAt, UpdatedAt: p.now, Attributes: map[string]json.RawMessage{},
		Deleted: true, Suppressed: rec.Suppress}
	p.markDirty(e)
}

// SuppressionOf is what suppressing p keeps (SPEC §10): their id and their email,
// folded (EmailKey). The operator's suppression keeps the same as a sync's.
func SuppressionOf(p *Person) Keys {
	var k Keys
	if p.ID != "" {
		k.IDs = []string{p.ID}
	}
	if p.Email != "" {
		k.Emails = []string{EmailKey(p.Email)}
	}
	return k
}

func skipUnknownCio(rec *record.Record, r *row) {
	rec.Skip(ReasonCioIDNotFound, fmt.Sprintf("no person has cio_id %q", r.cio))
}

// resolve gives a record the person a people row with only its identifiers would
// update (rules 3 and 4 find A, else B), or creates the person that row would create;
// it changes no one found (see Resolve).
func (p *planner) resolve(rec *record.Record, r *row) {
	a, b, found := p.ws.find(r)
	switch {
	case !found:
		skipUnknownCio(rec, r)
	case a != nil: // rule 4 updates A whether or not B differs; nothing is moved or merged
		rec.Outcome = record.Outcome{Result: record.Unchanged, Person: a.CioID}
	case b != nil:
		rec.Outcome = record.Outcome{Result: record.Unchanged, Person: b.CioID}
	case rec.Remove: // nothing to remove from someone who does not exist
		rec.Outcome = record.Outcome{Result: record.Unchanged}
	default:
		p.carryOut(rec, &decision{setID: r.id, setEmail: r.email}, r)
	}
}

// emailByID decides the email of a person found by id (rule 4, "only A"): set when
// it has none, changed only when allowed. stored is the value to store, which keeps
// the case first given when the email comes from a merged person.
func (p *planner) emailByID(d *decision, a *entry, given, stored string) {
	switch {
	case given == "" || p.sameEmail(a.Email, given):
	case a.Email == "" || !p.s.EmailIdentifies || p.s.AllowEmailUpdateByID:
		d.setEmail = stored
	default:
		d.fail("email", given, ReasonEmailChangeNotAllowed)
	}
}

func (d *decision) fail(attribute, value, reason string) {
	d.failed = append(d.failed, failure{attribute: attribute, value: value, reason: reason})
}

// checkCount rejects a row that would leave its person with more than MaxAttributes.
func (p *planner) checkCount(d *decision, r *row) *rejection {
	var have map[string]json.RawMessage
	if d.target != nil {
		have = d.target.Attributes
	}
	n := len(have)
	if n+len(r.attrs) <= MaxAttributes && d.mergeFrom == nil {
		return nil // cannot be over: fast path for the usual row
	}
	var from map[string]json.RawMessage
	if d.mergeFrom != nil {
		from = d.mergeFrom.Attributes
		for name := range from {
			if _, ok := have[name]; !ok {
				n++
			}
		}
	}
	for _, a := range r.attrs {
		_, inHave := have[a.Name]
		_, inFrom := from[a.Name]
		switch {
		case a.Value != nil && !inHave && !inFrom:
			n++
		case a.Value == nil && (inHave || inFrom):
			n--
		}
	}
	if n > MaxAttributes {
		return &rejection{reason: ReasonTooManyAttributes, detail: TooManyAttributes("person", n)}
	}
	return nil
}

// change carries out a decision on the working set and logs every outcome.
func (p *planner) change(d *decision, r *row) record.Outcome {
	e := d.target
	out := record.Outcome{Result: record.Unchanged}
	changed := false
	if e == nil {
		e = &entry{Person: Person{
			CioID:      p.newID(),
			ID:         d.setID,
			Email:      d.setEmail,
			Attributes: make(map[string]json.RawMessage, len(r.attrs)),
			CreatedAt:  p.now,
		}}
		p.ws.add(e)
		d.setID, d.setEmail = "", ""
		out.Result = record.Created
		p.log(r, e, record.ProfileCreate, "", nil, identifiersJSON(e.ID, e.Email), "")
		changed = true
	}
	out.Person = e.CioID

	if b := d.mergeFrom; b != nil {
		p.merge(r, e, b)
		changed = true
	}
	if d.setID != "" {
		p.log(r, e, record.AttributeChange, "id", stringJSON(e.ID), stringJSON(d.setID), "")
		p.ws.setID(e, d.setID)
		changed = true
	}
	if d.setEmail != "" {
		p.log(r, e, record.AttributeChange, "email", stringJSON(e.Email), stringJSON(d.setEmail), "")
		p.ws.setEmail(e, d.setEmail)
		changed = true
	}
	for _, f := range d.failed {
		p.log(r, e, record.FailedAttributeChange, f.attribute, nil, stringJSON(f.value), f.reason)
	}
	created := out.Result == record.Created
	for _, a := range r.attrs {
		old, had := e.Attributes[a.Name]
		switch {
		case a.Value == nil && had:
			delete(e.Attributes, a.Name)
		case a.Value == nil, had && bytes.Equal(old, a.Value):
			continue
		default:
			e.Attributes[a.Name] = a.Value
		}
		if !created { // a new profile's first attributes are not logged one by one
			p.log(r, e, record.AttributeChange, a.Name, old, a.Value, "")
		}
		changed = true
	}

	if changed {
		e.UpdatedAt = p.now
		p.markDirty(e)
		if out.Result == record.Unchanged {
			out.Result = record.Updated
		}
	}
	return out
}

// merge retires b into a (SPEC §1 rule 4, merge_duplicates): a keeps its values and
// takes b's for the attributes it lacks; b's cio_id then leads to a.
func (p *planner) merge(r *row, a, b *entry) {
	p.log(r, a, record.ProfileMerge, "", stringJSON(b.CioID), stringJSON(a.CioID), "")
	names := make([]string, 0, len(b.Attributes))
	for name := range b.Attributes {
		if _, ok := a.Attributes[name]; !ok {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		a.Attributes[name] = b.Attributes[name]
		p.log(r, a, record.AttributeChange, name, nil, b.Attributes[name], "")
	}
	p.ws.setEmail(b, "")
	b.Attributes = map[string]json.RawMessage{}
	b.MergedInto = a.CioID
	b.UpdatedAt = p.now
	p.markDirty(b)
}

func (p *planner) markDirty(e *entry) {
	if !e.dirty {
		e.dirty = true
		p.dirty = append(p.dirty, e)
	}
}

func (p *planner) log(r *row, e *entry, kind, attribute string, from, to json.RawMessage, reason string) {
	p.changes = append(p.changes, record.Change{Time: p.now, Sync: p.sync, RowKey: r.key, CioID: e.CioID, Kind: kind,
		Attribute: attribute, From: from, To: to, Reason: reason})
}

// collectWrites lists the changed people in the order they first changed.
func (p *planner) collectWrites() []Write {
	writes := make([]Write, len(p.dirty))
	for i, e := range p.dirty {
		idKey, emailKey := p.ws.idKey(&e.Person), p.ws.emailKey(&e.Person)
		writes[i] = Write{
			Person:    &e.Person,
			IDKey:     idKey,
			EmailKey:  emailKey,
			Insert:    !e.stored,
			ClearKeys: e.stored && (e.storedIDKey != "" && e.storedIDKey != idKey || e.storedEmailKey != "" && e.storedEmailKey != emailKey),
			Suppress:  e.suppress,
			Forget:    e.forgot,
		}
	}
	return writes
}

func stringJSON(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return jsontext.AppendString(make([]byte, 0, len(s)+2), s)
}

// identifiersJSON is the `to` of a profile_create entry: {"id":…,"email":…}.
func identifiersJSON(id, email string) json.RawMessage {
	b := make([]byte, 0, len(id)+len(email)+20)
	b = append(b, '{')
	if id != "" {
		b = append(b, `"id":`...)
		b = jsontext.AppendString(b, id)
	}
	if email != "" {
		if id != "" {
			b = append(b, ',')
		}
		b = append(b, `"email":`...)
		b = jsontext.AppendString(b, email)
	}
	return append(b, '}')
}
