package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/embedmatrix/homeserver/storage"
)

// schemaQueueEvents records which event each queued PDU is, so that a
// redaction can replace the payload of the copies not yet handed out in a
// transaction. event_id is empty for EDUs and for rows queued before it
// (the store never parses payloads, so it cannot fill them in): a
// redaction does not reach those, which were queued before the upgrade.
const schemaQueueEvents = `
ALTER TABLE outbound_queue ADD COLUMN event_id TEXT NOT NULL DEFAULT '';

-- queueRedacted: the unsent copies of one event.
CREATE INDEX outbound_queue_unsent_by_event ON outbound_queue (event_id) WHERE txn_id IS NULL AND kind = 'pdu';
`

// queueRedacted gives the queued copies of r's event that are not yet in
// a transaction (txn_id NULL: an assigned item keeps its txn_id until its
// transaction is acknowledged and the item deleted) r's JSON as payload.
// Copies already in a transaction keep theirs: a transaction is resent
// with the same content until it is acknowledged.
func queueRedacted(ctx context.Context, tx *sql.Tx, r storage.RedactedEvent) error {
	_, err := tx.ExecContext(ctx, `
		UPDATE outbound_queue SET payload = ?
		WHERE event_id = ? AND txn_id IS NULL AND kind = 'pdu'`,
		blob(r.JSON), r.EventID)
	return err
}

// EnqueueEDU queues an EDU (its full JSON) for destination.
func (s *Store) EnqueueEDU(ctx context.Context, destination string, edu []byte) error {
	return s.write(ctx, "enqueue EDU for "+destination, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO outbound_queue (destination, kind, payload) VALUES (?, ?, ?)`,
			destination, storage.KindEDU, blob(edu))
		return err
	})
}

// PendingDestinations lists, sorted, the destinations with anything
// queued, in an open transaction or not.
func (s *Store) PendingDestinations(ctx context.Context) ([]string, error) {
	rows, err := s.r.QueryContext(ctx,
		`SELECT DISTINCT destination FROM outbound_queue ORDER BY destination`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: pending destinations: %w", err)
	}
	defer rows.Close()
	var dests []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, fmt.Errorf("sqlite: pending destinations: %w", err)
		}
		dests = append(dests, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: pending destinations: %w", err)
	}
	return dests, nil
}

// NextTransaction returns the destination's open transaction if it has
// one, with the same TxnID and content as before, whatever the limits.
// Otherwise it puts the oldest unsent items, at most maxPDUs PDUs and
// maxEDUs EDUs, in a new transaction and returns it. It returns an error
// matching storage.ErrNotFound when nothing queued fits.
//
// A new TxnID is "<first queued item ID>.<16 random hex digits>": the
// item ID never repeats within the file, and the random part keeps IDs
// apart from those of an earlier file that a destination may still
// remember. The ID is stored with the items, so it survives a restart.
func (s *Store) NextTransaction(ctx context.Context, destination string, maxPDUs, maxEDUs int) (storage.Transaction, error) {
	if maxPDUs < 0 || maxEDUs < 0 {
		return storage.Transaction{}, fmt.Errorf("sqlite: next transaction for %s: negative limit (%d PDUs, %d EDUs)",
			destination, maxPDUs, maxEDUs)
	}
	txn := storage.Transaction{Destination: destination}
	err := s.write(ctx, "next transaction for "+destination, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx,
			`SELECT txn_id FROM outbound_txns WHERE destination = ?`, destination).Scan(&txn.TxnID)
		if errors.Is(err, sql.ErrNoRows) {
			txn.TxnID, err = openTransaction(ctx, tx, destination, maxPDUs, maxEDUs)
		}
		if err != nil {
			return err
		}
		txn.PDUs, txn.EDUs, err = transactionItems(ctx, tx, destination, txn.TxnID)
		return err
	})
	if err != nil {
		return storage.Transaction{}, err
	}
	return txn, nil
}

// openTransaction assigns a new transaction ID to the oldest unsent items
// of destination within the limits, records it as the destination's open
// transaction, and returns it.
func openTransaction(ctx context.Context, tx *sql.Tx, destination string, maxPDUs, maxEDUs int) (string, error) {
	var first sql.NullInt64
	if err := tx.QueryRowContext(ctx, `
		SELECT MIN(item_id) FROM outbound_queue WHERE destination = ? AND txn_id IS NULL`,
		destination).Scan(&first); err != nil {
		return "", err
	}
	if !first.Valid {
		return "", notFound("queued items")
	}
	var random [8]byte
	if _, err := rand.Read(random[:]); err != nil {
		return "", err
	}
	txnID := strconv.FormatInt(first.Int64, 10) + "." + hex.EncodeToString(random[:])

	res, err := tx.ExecContext(ctx, `
		UPDATE outbound_queue SET txn_id = ?1
		WHERE item_id IN (
			SELECT item_id FROM outbound_queue
			WHERE destination = ?2 AND txn_id IS NULL AND kind = 'pdu'
			ORDER BY item_id LIMIT ?3)
		OR item_id IN (
			SELECT item_id FROM outbound_queue
			WHERE destination = ?2 AND txn_id IS NULL AND kind = 'edu'
			ORDER BY item_id LIMIT ?4)`,
		txnID, destination, maxPDUs, maxEDUs)
	if err != nil {
		return "", err
	}
	if err := mustAffect(res, "queued items within the limits"); err != nil {
		return "", err
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO outbound_txns (destination, txn_id) VALUES (?, ?)`, destination, txnID); err != nil {
		return "", err
	}
	return txnID, nil
}

// transactionItems returns the PDUs and EDUs of a transaction in queue
// order.
func transactionItems(ctx context.Context, tx *sql.Tx, destination, txnID string) (pdus, edus [][]byte, err error) {
	rows, err := tx.QueryContext(ctx, `
		SELECT kind, payload FROM outbound_queue
		WHERE destination = ? AND txn_id = ? ORDER BY item_id`, destination, txnID)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			kind    string
			payload []byte
		)
		if err := rows.Scan(&kind, &payload); err != nil {
			return nil, nil, err
		}
		if kind == storage.KindPDU {
			pdus = append(pdus, payload)
		} else {
			edus = append(edus, payload)
		}
	}
	return pdus, edus, rows.Err()
}

// CompleteTransaction removes an acknowledged transaction and its items.
// Completing a transaction that is not the destination's open one changes
// nothing and is not an error, so an acknowledgement can be retried.
func (s *Store) CompleteTransaction(ctx context.Context, destination, txnID string) error {
	return s.write(ctx, fmt.Sprintf("complete transaction %s for %s", txnID, destination), func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			`DELETE FROM outbound_queue WHERE destination = ? AND txn_id = ?`, destination, txnID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx,
			`DELETE FROM outbound_txns WHERE destination = ? AND txn_id = ?`, destination, txnID)
		return err
	})
}
