package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/dbsync/dbsync/identity"
)

// CheckWorkspace records the workspace's identifiers the first time and refuses a
// store built with other ones: which identifiers are unique decides how every person
// was stored, so changing it needs a new store (a full re-sync), not a silent switch.
func (s *Store) CheckWorkspace(ctx context.Context, settings identity.Settings) error {
	want := strings.Join(settings.Identifiers(), ",")
	_, err := s.db.ExecContext(ctx, s.d.rebind(
		`INSERT INTO meta (key, value) VALUES ('workspace.identifiers', ?) ON CONFLICT (key) DO NOTHING`), want)
	if err != nil {
		return fmt.Errorf("record workspace identifiers: %w", err)
	}
	var have string
	err = s.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'workspace.identifiers'`).Scan(&have)
	if err != nil {
		return fmt.Errorf("read workspace identifiers: %w", err)
	}
	if have != want {
		return fmt.Errorf("workspace.identifiers: the store was built with [%s], the config says [%s]; "+
			"changing identifiers needs a new store and a full re-sync", strings.ReplaceAll(have, ",", ", "), strings.ReplaceAll(want, ",", ", "))
	}
	return nil
}
