package store

import (
	"context"
	"fmt"

	"github.com/dbsync/dbsync/events"
)

// eventOverlay holds what a dry run's batches did to events, so a later batch sees
// it as in a real run: an event a batch stored is stored; one a delete erased is not,
// and a re-read stores it again.
type eventOverlay struct {
	written map[eventKey]string // the event's person; "" for an event erased
	movedTo map[string]string   // merged cio_id -> survivor, for the stored events a merge moved
}

func (o *overlay) events() *eventOverlay {
	if o.ev == nil {
		o.ev = &eventOverlay{written: map[eventKey]string{}, movedTo: map[string]string{}}
	}
	return o.ev
}

func (o *eventOverlay) write(evs []events.Event) {
	for _, e := range evs {
		o.written[eventKey{e.Sync, e.ID}] = e.CioID
	}
}

// stored corrects what the store holds by what the earlier batches did.
func (o *eventOverlay) stored(sync string, ids []string, inStore map[string]bool) map[string]bool {
	for _, id := range ids {
		switch cio, ok := o.written[eventKey{sync, id}]; {
		case !ok:
		case cio == "":
			delete(inStore, id)
		default:
			inStore[id] = true
		}
	}
	return inStore
}

// move is moveEvents for a dry run: into maps each survivor to the people merged into it.
func (o *eventOverlay) move(into map[string][]string) {
	to := map[string]string{}
	for s, merged := range into {
		for _, m := range merged {
			to[m], o.movedTo[m] = s, s
		}
	}
	for k, cio := range o.written {
		if s, ok := to[cio]; ok {
			o.written[k] = s
		}
	}
}

// erase is eraseEvents for a dry run: the events the people hold in the store, with
// those the dry run moved to them, and those its batches wrote for them.
func (o *eventOverlay) erase(ctx context.Context, t *Tx, cioIDs []string) error {
	gone := map[string]bool{}
	for _, c := range cioIDs {
		gone[c] = true
	}
	for grew := true; grew; { // and everyone whose events reached them by merges
		grew = false
		for m, s := range o.movedTo {
			if gone[s] && !gone[m] {
				gone[m], grew = true, true
			}
		}
	}
	people := make([]string, 0, len(gone))
	for c := range gone {
		people = append(people, c)
	}
	q := `SELECT sync, event_id FROM events WHERE ` + t.d.inList("internal_id")
	rows, err := t.tx.QueryContext(ctx, t.d.rebind(q), t.d.listArg(people))
	if err != nil {
		return fmt.Errorf("erase the events of deleted people: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k eventKey
		if err := rows.Scan(&k.sync, &k.id); err != nil {
			return fmt.Errorf("erase the events of deleted people: %w", err)
		}
		o.written[k] = ""
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("erase the events of deleted people: %w", err)
	}
	for k, cio := range o.written {
		if gone[cio] {
			o.written[k] = ""
		}
	}
	return nil
}
