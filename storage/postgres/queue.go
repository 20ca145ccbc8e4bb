package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/embedmatrix/homeserver/storage"
)

// schemaQueueEvents records which event each queued PDU is, so that a
// redaction can replace the payload of the copies not yet handed out in a
// transaction. event_id is empty for EDUs and for rows queued before it
// (the store never parses payloads, so it cannot fill them in): a
// redaction does not reach those, which were queued before the upgrade.
const schemaQueueEvents = `
ALTER TABLE outbound_queue ADD COLUMN event_id BYTEA NOT NULL DEFAULT ''::bytea;

-- queueRedacted: the unsent copies of one event.
CREATE INDEX outbound_queue_unsent_by_event ON outbound_queue (event_id) WHERE txn_id IS NULL AND kind = 'pdu';
`

// queueRedacted gives the queued copies of rs's events that are not yet
// in a transaction (txn_id NULL: an assigned item keeps its txn_id until
// its transaction is acknowledged and the item deleted) the redacted JSON
// as payload, a later entry for the same event winning. Copies already in
// a transaction keep theirs: a transaction is resent with the same
// content until it is acknowledged.
//
// It first locks the destinations holding such copies, as NextTransaction
// does, so no transaction is being assigned to them meanwhile: a copy is
// then either in a committed transaction (and skipped) or still unsent
// (and replaced), never taken by a NextTransaction that might yet roll
// back. Room locks, if any, are taken before: every transaction that
// takes both kinds takes them in that order.
func queueRedacted(ctx context.Context, tx pgx.Tx, rs []storage.RedactedEvent) error {
	ids := make([]string, 0, len(rs))
	for _, r := range rs {
		ids = append(ids, r.EventID)
	}
	rows, err := tx.Query(ctx, `
		SELECT destination FROM outbound_queue
		WHERE event_id = ANY($1::bytea[]) AND txn_id IS NULL AND kind = 'pdu'`, bss(dedupe(ids)))
	if err != nil {
		return err
	}
	dests, err := collect(rows, func(rows pgx.Rows) (string, error) {
		var d string
		err := rows.Scan(&d)
		return d, err
	})
	if err != nil || len(dests) == 0 {
		return err
	}
	if err := lockAll(ctx, tx, lockDestination, dedupe(dests)...); err != nil {
		return err
	}
	b := &pgx.Batch{}
	for _, r := range rs {
		b.Queue(`
			UPDATE outbound_queue SET payload = $2
			WHERE event_id = $1 AND txn_id IS NULL AND kind = 'pdu'`,
			bs(r.EventID), blob(r.JSON))
	}
	return tx.SendBatch(ctx, b).Close()
}

// EnqueueEDU queues an EDU (its full JSON) for destination.
func (s *Store) EnqueueEDU(ctx context.Context, destination string, edu []byte) error {
	return s.write(ctx, "enqueue EDU for "+destination, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx,
			`INSERT INTO outbound_queue (destination, kind, payload) VALUES ($1, $2, $3)`,
			bs(destination), storage.KindEDU, blob(edu))
		return err
	})
}

// PendingDestinations lists, sorted, the destinations with anything
// queued, in an open transaction or not.
func (s *Store) PendingDestinations(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT destination FROM outbound_queue ORDER BY destination`)
	if err != nil {
		return nil, fmt.Errorf("postgres: pending destinations: %w", err)
	}
	dests, err := collect(rows, func(rows pgx.Rows) (string, error) {
		var d string
		err := rows.Scan(&d)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: pending destinations: %w", err)
	}
	return dests, nil
}

// NextTransaction returns the destination's open transaction if it has
// one, with the same TxnID and content as before, whatever the limits.
// Otherwise it puts the oldest unsent items, at most maxPDUs PDUs and
// maxEDUs EDUs, in a new transaction and returns it. It returns an error
// matching storage.ErrNotFound when nothing queued fits.
//
// The transaction holds the destination's advisory lock, so however many
// processes call it at once, a destination has one open transaction and
// every caller gets that one. A new TxnID is "<first queued item
// ID>.<16 random hex digits>": the item ID never repeats within the
// database, and the random part keeps IDs apart from those of an earlier
// database that a destination may still remember. The ID is stored with
// the items, so it survives a restart.
func (s *Store) NextTransaction(ctx context.Context, destination string, maxPDUs, maxEDUs int) (storage.Transaction, error) {
	if maxPDUs < 0 || maxEDUs < 0 {
		return storage.Transaction{}, fmt.Errorf("postgres: next transaction for %s: negative limit (%d PDUs, %d EDUs)",
			destination, maxPDUs, maxEDUs)
	}
	var txn storage.Transaction
	err := s.write(ctx, "next transaction for "+destination, func(tx pgx.Tx) error {
		txn = storage.Transaction{Destination: destination}
		if err := lockAll(ctx, tx, lockDestination, destination); err != nil {
			return err
		}
		err := tx.QueryRow(ctx,
			`SELECT txn_id FROM outbound_txns WHERE destination = $1`, bs(destination)).Scan(&txn.TxnID)
		if errors.Is(err, pgx.ErrNoRows) {
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
// transaction, and returns it. tx holds the destination's lock.
func openTransaction(ctx context.Context, tx pgx.Tx, destination string, maxPDUs, maxEDUs int) (string, error) {
	var first *int64
	if err := tx.QueryRow(ctx, `
		SELECT MIN(item_id) FROM outbound_queue WHERE destination = $1 AND txn_id IS NULL`,
		bs(destination)).Scan(&first); err != nil {
		return "", err
	}
	if first == nil {
		return "", notFound("queued items")
	}
	var random [8]byte
	if _, err := rand.Read(random[:]); err != nil {
		return "", err
	}
	txnID := strconv.FormatInt(*first, 10) + "." + hex.EncodeToString(random[:])

	tag, err := tx.Exec(ctx, `
		UPDATE outbound_queue SET txn_id = $1
		WHERE item_id IN (
			SELECT item_id FROM outbound_queue
			WHERE destination = $2 AND txn_id IS NULL AND kind = 'pdu'
			ORDER BY item_id LIMIT $3)
		OR item_id IN (
			SELECT item_id FROM outbound_queue
			WHERE destination = $2 AND txn_id IS NULL AND kind = 'edu'
			ORDER BY item_id LIMIT $4)`,
		bs(txnID), bs(destination), maxPDUs, maxEDUs)
	if err != nil {
		return "", err
	}
	if err := mustAffect(tag, "queued items within the limits"); err != nil {
		return "", err
	}
	if _, err := tx.Exec(ctx,
		`INSERT INTO outbound_txns (destination, txn_id) VALUES ($1, $2)`, bs(destination), bs(txnID)); err != nil {
		return "", err
	}
	return txnID, nil
}

// transactionItems returns the PDUs and EDUs of a transaction in queue
// order.
func transactionItems(ctx context.Context, tx pgx.Tx, destination, txnID string) (pdus, edus [][]byte, err error) {
	rows, err := tx.Query(ctx, `
		SELECT kind, payload FROM outbound_queue
		WHERE destination = $1 AND txn_id = $2 ORDER BY item_id`, bs(destination), bs(txnID))
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
// nothing and is not an error, so an acknowledgement can be retried. It
// holds the destination's lock, so a NextTransaction running at the same
// time sees the transaction whole or not at all.
func (s *Store) CompleteTransaction(ctx context.Context, destination, txnID string) error {
	return s.write(ctx, fmt.Sprintf("complete transaction %s for %s", txnID, destination), func(tx pgx.Tx) error {
		if err := lockAll(ctx, tx, lockDestination, destination); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx,
			`DELETE FROM outbound_queue WHERE destination = $1 AND txn_id = $2`, bs(destination), bs(txnID)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx,
			`DELETE FROM outbound_txns WHERE destination = $1 AND txn_id = $2`, bs(destination), bs(txnID))
		return err
	})
}
