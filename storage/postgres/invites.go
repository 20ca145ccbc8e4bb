package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/embedmatrix/homeserver/storage"
)

// inviteCols are the invites columns scanInvite reads, in its order.
const inviteCols = `room_id, user_id, inviter, direction, event_id, room_version,
	event_json, room_state, state, created_ts, updated_ts`

func scanInvite(row pgx.Row) (storage.Invite, error) {
	var inv storage.Invite
	err := row.Scan(&inv.RoomID, &inv.UserID, &inv.Inviter, &inv.Direction, &inv.EventID, &inv.RoomVersion,
		&inv.EventJSON, &inv.RoomState, &inv.State, &inv.CreatedTS, &inv.UpdatedTS)
	return inv, err
}

// PutInvite inserts or replaces the invite for (room, invitee).
func (s *Store) PutInvite(ctx context.Context, inv storage.Invite) error {
	return s.write(ctx, fmt.Sprintf("put invite of %s to %s", inv.UserID, inv.RoomID), func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO invites (`+inviteCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
			ON CONFLICT (room_id, user_id) DO UPDATE SET
				inviter = excluded.inviter,
				direction = excluded.direction,
				event_id = excluded.event_id,
				room_version = excluded.room_version,
				event_json = excluded.event_json,
				room_state = excluded.room_state,
				state = excluded.state,
				created_ts = excluded.created_ts,
				updated_ts = excluded.updated_ts`,
			bs(inv.RoomID), bs(inv.UserID), bs(inv.Inviter), bs(inv.Direction), bs(inv.EventID), bs(inv.RoomVersion),
			blob(inv.EventJSON), blob(inv.RoomState), bs(inv.State), inv.CreatedTS, inv.UpdatedTS)
		return err
	})
}

// Invite returns the invite for (room, invitee), or an error matching
// storage.ErrNotFound.
func (s *Store) Invite(ctx context.Context, roomID, userID string) (storage.Invite, error) {
	inv, err := scanInvite(s.pool.QueryRow(ctx,
		`SELECT `+inviteCols+` FROM invites WHERE room_id = $1 AND user_id = $2`, bs(roomID), bs(userID)))
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.Invite{}, fmt.Errorf("postgres: invite of %s to %s: %w", userID, roomID, storage.ErrNotFound)
	}
	if err != nil {
		return storage.Invite{}, fmt.Errorf("postgres: invite of %s to %s: %w", userID, roomID, err)
	}
	return inv, nil
}

// Invites returns the invites of a user, newest (by CreatedTS) first;
// invites created at the same time come last stored first.
func (s *Store) Invites(ctx context.Context, userID string) ([]storage.Invite, error) {
	invs, err := s.queryInvites(ctx,
		`SELECT `+inviteCols+` FROM invites WHERE user_id = $1 ORDER BY created_ts DESC, seq DESC`, bs(userID))
	if err != nil {
		return nil, fmt.Errorf("postgres: invites of %s: %w", userID, err)
	}
	return invs, nil
}

// RoomInvites returns the invites into a room, newest first.
func (s *Store) RoomInvites(ctx context.Context, roomID string) ([]storage.Invite, error) {
	invs, err := s.queryInvites(ctx,
		`SELECT `+inviteCols+` FROM invites WHERE room_id = $1 ORDER BY created_ts DESC, seq DESC`, bs(roomID))
	if err != nil {
		return nil, fmt.Errorf("postgres: invites into %s: %w", roomID, err)
	}
	return invs, nil
}

func (s *Store) queryInvites(ctx context.Context, query string, args ...any) ([]storage.Invite, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(rows pgx.Rows) (storage.Invite, error) { return scanInvite(rows) })
}

// SetInviteState moves an invite to state at time ts. It returns an error
// matching storage.ErrNotFound if there is no such invite.
func (s *Store) SetInviteState(ctx context.Context, roomID, userID, state string, ts int64) error {
	return s.write(ctx, fmt.Sprintf("set invite state of %s to %s", userID, roomID), func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx,
			`UPDATE invites SET state = $1, updated_ts = $2 WHERE room_id = $3 AND user_id = $4`,
			bs(state), ts, bs(roomID), bs(userID))
		if err != nil {
			return err
		}
		return mustAffect(tag, "invite")
	})
}
