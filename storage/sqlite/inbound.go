package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/embedmatrix/homeserver/storage"
)

// InboundTransaction returns the response stored for a transaction origin
// already sent, or an error matching storage.ErrNotFound.
func (s *Store) InboundTransaction(ctx context.Context, origin, txnID string) ([]byte, error) {
	var resp []byte
	err := s.r.QueryRowContext(ctx,
		`SELECT response FROM inbound_txns WHERE origin = ? AND txn_id = ?`, origin, txnID).Scan(&resp)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: inbound transaction %s from %s: %w", txnID, origin, storage.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: inbound transaction %s from %s: %w", txnID, origin, err)
	}
	return resp, nil
}

// SaveInboundTransaction stores the response given to a transaction,
// replacing any stored before for the same (origin, txnID).
func (s *Store) SaveInboundTransaction(ctx context.Context, origin, txnID string, response []byte) error {
	return s.write(ctx, fmt.Sprintf("save inbound transaction %s from %s", txnID, origin), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO inbound_txns (origin, txn_id, response, received_ts) VALUES (?, ?, ?, ?)
			ON CONFLICT (origin, txn_id) DO UPDATE SET
				response = excluded.response, received_ts = excluded.received_ts`,
			origin, txnID, blob(response), time.Now().UnixMilli())
		return err
	})
}
