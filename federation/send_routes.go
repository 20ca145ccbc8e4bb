package federation

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/embedmatrix/homeserver/rooms"
	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"
)

// droppedEDUs are the EDU types of end-to-end encryption, which this
// server (no devices, no keys) accepts and drops: peers send them to
// every server sharing a room with their users, encrypted or not.
// https://spec.matrix.org/v1.16/server-server-api/#send-to-device-messaging
// https://spec.matrix.org/v1.16/server-server-api/#device-management
var droppedEDUs = map[string]bool{
	"m.direct_to_device":   true,
	"m.device_list_update": true,
	"m.signing_key_update": true,
}

// dropE2EEEDUs returns the EDUs without those of droppedEDUs, each
// dropped one logged at debug level.
func (s *Server) dropE2EEEDUs(origin spec.ServerName, edus []json.RawMessage) []json.RawMessage {
	out := edus[:0:0]
	for _, e := range edus {
		if t := gjson.GetBytes(e, "edu_type").Str; droppedEDUs[t] {
			s.log.Debug("dropping EDU", "origin", origin, "edu_type", t)
			continue
		}
		out = append(out, e)
	}
	return out
}

// send serves PUT /_matrix/federation/v1/send/{txnID}. It always answers
// 200 with a result per PDU once the transaction is well-formed: a bad PDU
// never fails the transaction, because peers back off all traffic to a
// server that errors on /send. Every accepted PDU is persisted before the
// answer. A repeated transaction (same origin, ID and body) gets the first
// answer again without reprocessing. A transaction ID reused with another
// body (Dendrite 0.15.2 adds new PDUs to a transaction it retries) is
// processed: dropping it would lose those PDUs, and PDUs already taken in
// are skipped by event ID anyway.
// https://spec.matrix.org/v1.16/server-server-api/#put_matrixfederationv1sendtxnid
func (s *Server) send(ctx context.Context, req *request) (any, error) {
	txnID := req.vars["txnID"]
	sum := sha256.Sum256(req.content)
	digest := hex.EncodeToString(sum[:])
	if prev, err := s.cfg.Store.InboundTransaction(ctx, string(req.origin), txnID); err == nil {
		if d, answer, ok := bytes.Cut(prev, []byte("\n")); ok && string(d) == digest {
			return json.RawMessage(answer), nil
		}
	} else if !errors.Is(err, storage.ErrNotFound) {
		return nil, err
	}
	var body struct {
		PDUs []json.RawMessage `json:"pdus"`
		EDUs []json.RawMessage `json:"edus"`
	}
	if err := decode(req.content, &body); err != nil {
		return nil, err
	}
	if len(body.PDUs) > MaxPDUsPerTxn || len(body.EDUs) > MaxEDUsPerTxn {
		return nil, errorf(http.StatusBadRequest, CodeBadJSON, "a transaction holds at most %d PDUs and %d EDUs", MaxPDUsPerTxn, MaxEDUsPerTxn)
	}
	res := fclient.RespSend{PDUs: map[string]fclient.PDUResult{}}
	for _, raw := range body.PDUs {
		eventID, err := s.cfg.Rooms.ProcessInbound(ctx, req.origin, raw)
		if errors.Is(err, rooms.ErrUnknownRoom) && s.cfg.OnUnknownRoomPDU != nil {
			s.cfg.OnUnknownRoomPDU(ctx, req.origin, raw)
		}
		if eventID == "" {
			// Without an event ID there is no key to report under.
			s.log.Info("dropping undecodable PDU", "origin", req.origin, "err", err)
			continue
		}
		if err != nil {
			s.log.Info("refused PDU", "origin", req.origin, "event_id", eventID, "err", err)
			res.PDUs[eventID] = fclient.PDUResult{Error: err.Error()}
			continue
		}
		res.PDUs[eventID] = fclient.PDUResult{}
	}
	if edus := s.dropE2EEEDUs(req.origin, body.EDUs); len(edus) > 0 && s.cfg.OnEDUs != nil {
		s.cfg.OnEDUs(ctx, req.origin, edus)
	}
	out, err := json.Marshal(res)
	if err != nil {
		return nil, err
	}
	if err := s.cfg.Store.SaveInboundTransaction(ctx, string(req.origin), txnID, append([]byte(digest+"\n"), out...)); err != nil {
		s.log.Warn("could not save transaction result", "origin", req.origin, "txn", txnID, "err", err)
	}
	return json.RawMessage(out), nil
}
