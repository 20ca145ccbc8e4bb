package ephemeral

import "github.com/embedmatrix/homeserver/storage"

// Readers returns, from a room's stored receipts, those showing that the
// event eventID (at depth in the room graph) has been read. A read receipt
// marks where in the room the user "has read up to", so it counts for the
// event it points at and for every event before it: here, every event of
// lower depth. Receipts on events missing from depths (not stored here)
// and receipts of other types than m.read are left out. The result keeps
// the order of rs.
//
// Depth is a stand-in for "comes before": it is exact along one line of
// history and an approximation across concurrent branches, where an event
// of lower depth on another branch counts as read.
func Readers(eventID string, depth int64, rs []storage.Receipt, depths map[string]int64) []storage.Receipt {
	var out []storage.Receipt
	for _, r := range rs {
		if r.Type != ReadReceipt {
			continue
		}
		if r.EventID == eventID {
			out = append(out, r)
			continue
		}
		if d, ok := depths[r.EventID]; ok && d > depth {
			out = append(out, r)
		}
	}
	return out
}
