package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/embedmatrix/homeserver/storage"
)

// inviteCols are the invites columns scanInvite reads, in its order.
const inviteCols = `room_id, user_id, inviter, direction, event_id, room_version,
	event_json, room_state, state, created_ts, updated_ts`

func scanInvite(row scanner) (storage.Invite, error) {
	var inv storage.Invite
	err := row.Scan(&inv.RoomID, &inv.UserID, &inv.Inviter, &inv.Direction, &inv.EventID, &inv.RoomVersion,
		&inv.EventJSON, &inv.RoomState, &inv.State, &inv.CreatedTS, &inv.UpdatedTS)
	return inv, err
}

// PutInvite inserts or replaces the invite for (room, invitee).
func (s *Store) PutInvite(ctx context.Context, inv storage.Invite) error {
	return s.write(ctx, fmt.Sprintf("put invite of %s to %s", inv.UserID, inv.RoomID), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO invites (`+inviteCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
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
			inv.RoomID, inv.UserID, inv.Inviter, inv.Direction, inv.EventID, inv.RoomVersion,
			blob(inv.EventJSON), blob(inv.RoomState), inv.State, inv.CreatedTS, inv.UpdatedTS)
		return err
	})
}

// Invite returns the invite for (room, invitee), or an error matching
// storage.ErrNotFound.
func (s *Store) Invite(ctx context.Context, roomID, userID string) (storage.Invite, error) {
	inv, err := scanInvite(s.r.QueryRowContext(ctx,
		`SELECT `+inviteCols+` FROM invites WHERE room_id = ? AND user_id = ?`, roomID, userID))
	if errors.Is(err, sql.ErrNoRows) {
		return storage.Invite{}, fmt.Errorf("sqlite: invite of %s to %s: %w", userID, roomID, storage.ErrNotFound)
	}
	if err != nil {
		return storage.Invite{}, fmt.Errorf("sqlite: invite of %s to %s: %w", userID, roomID, err)
	}
	return inv, nil
}

// Invites returns the invites of a user, newest (by CreatedTS) first.
func (s *Store) Invites(ctx context.Context, userID string) ([]storage.Invite, error) {
	rows, err := s.r.QueryContext(ctx,
		`SELECT `+inviteCols+` FROM invites WHERE user_id = ? ORDER BY created_ts DESC, rowid DESC`, userID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: invites of %s: %w", userID, err)
	}
	defer rows.Close()
	var invs []storage.Invite
	for rows.Next() {
		inv, err := scanInvite(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: invites of %s: %w", userID, err)
		}
		invs = append(invs, inv)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: invites of %s: %w", userID, err)
	}
	return invs, nil
}

// RoomInvites returns the invites into a room, newest first.
func (s *Store) RoomInvites(ctx context.Context, roomID string) ([]storage.Invite, error) {
	rows, err := s.r.QueryContext(ctx,
		`SELECT `+inviteCols+` FROM invites WHERE room_id = ? ORDER BY created_ts DESC, rowid DESC`, roomID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: invites into %s: %w", roomID, err)
	}
	defer rows.Close()
	var invs []storage.Invite
	for rows.Next() {
		inv, err := scanInvite(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: invites into %s: %w", roomID, err)
		}
		invs = append(invs, inv)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: invites into %s: %w", roomID, err)
	}
	return invs, nil
}

// SetInviteState moves an invite to state at time ts. It returns an error
// matching storage.ErrNotFound if there is no such invite.
func (s *Store) SetInviteState(ctx context.Context, roomID, userID, state string, ts int64) error {
	return s.write(ctx, fmt.Sprintf("set invite state of %s to %s", userID, roomID), func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE invites SET state = ?, updated_ts = ? WHERE room_id = ? AND user_id = ?`,
			state, ts, roomID, userID)
		if err != nil {
			return err
		}
		return mustAffect(res, "invite")
	})
}
