package store

import (
	"github.com/dbsync/dbsync/events"
)

// eventOverlay holds the events a dry run's batches would have stored, so a later
// batch that re-reads one sees it stored, as in a real run.
type eventOverlay struct {
	written map[eventKey]bool
}

func (o *overlay) events() *eventOverlay {
	if o.ev == nil {
		o.ev = &eventOverlay{written: map[eventKey]bool{}}
	}
	return o.ev
}

func (o *eventOverlay) write(evs []events.Event) {
	for _, e := range evs {
		o.written[eventKey{e.Sync, e.ID}] = true
	}
}

// stored adds to what the store holds the events the earlier batches wrote.
func (o *eventOverlay) stored(sync string, ids []string, inStore map[string]bool) map[string]bool {
	for _, id := range ids {
		if o.written[eventKey{sync, id}] {
			inStore[id] = true
		}
	}
	return inStore
}
