package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/embedmatrix/homeserver/storage"
)

// InboundTransaction returns the response stored for a transaction origin
// already sent, or an error matching storage.ErrNotFound.
func (s *Store) InboundTransaction(ctx context.Context, origin, txnID string) ([]byte, error) {
	var resp []byte
	err := s.pool.QueryRow(ctx,
		`SELECT response FROM inbound_txns WHERE origin = $1 AND txn_id = $2`, bs(origin), bs(txnID)).Scan(&resp)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: inbound transaction %s from %s: %w", txnID, origin, storage.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: inbound transaction %s from %s: %w", txnID, origin, err)
	}
	return resp, nil
}

// SaveInboundTransaction stores the response given to a transaction,
// replacing any stored before for the same (origin, txnID).
func (s *Store) SaveInboundTransaction(ctx context.Context, origin, txnID string, response []byte) error {
	return s.write(ctx, fmt.Sprintf("save inbound transaction %s from %s", txnID, origin), func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO inbound_txns (origin, txn_id, response, received_ts) VALUES ($1, $2, $3, $4)
			ON CONFLICT (origin, txn_id) DO UPDATE SET
				response = excluded.response, received_ts = excluded.received_ts`,
			bs(origin), bs(txnID), blob(response), time.Now().UnixMilli())
		return err
	})
}
