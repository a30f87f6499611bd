package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/dbsync/dbsync/identity"
)

// ErrWorkspaceChanged means the config's workspace.identifiers are not those the
// store was built with: a config error.
var ErrWorkspaceChanged = errors.New("workspace.identifiers")

// CheckWorkspace records the workspace's identifiers the first time and refuses a
// store built with other ones: which identifiers are unique decides how every person
// was stored, so changing it needs a new store (a full re-sync), not a silent switch.
func (s *Store) CheckWorkspace(ctx context.Context, settings identity.Settings) error {
	want := strings.Join(settings.Identifiers(), ",")
	have, err := s.workspaceIdentifiers(ctx)
	if err != nil {
		return err
	}
	if have == "" {
		if s.readOnly {
			return nil // a reader records nothing; the first run will
		}
		// Only the first open writes: a store busy with a run is not written to by
		// every command that opens it.
		_, err := s.db.ExecContext(ctx, s.d.rebind(
			`INSERT INTO meta (key, value) VALUES ('workspace.identifiers', ?) ON CONFLICT (key) DO NOTHING`), want)
		if err != nil {
			return fmt.Errorf("record workspace identifiers: %w", err)
		}
		if have, err = s.workspaceIdentifiers(ctx); err != nil {
			return err
		}
	}
	if have != want {
		return fmt.Errorf("%w: the store was built with [%s], the config says [%s]; "+
			"changing identifiers needs a new store and a full re-sync", ErrWorkspaceChanged, strings.ReplaceAll(have, ",", ", "), strings.ReplaceAll(want, ",", ", "))
	}
	return nil
}

// workspaceIdentifiers is what the store recorded, "" when nothing (or no schema) yet.
func (s *Store) workspaceIdentifiers(ctx context.Context) (string, error) {
	var have string
	err := s.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'workspace.identifiers'`).Scan(&have)
	if errors.Is(err, sql.ErrNoRows) || s.d.missing(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read workspace identifiers: %w", err)
	}
	return have, nil
}
