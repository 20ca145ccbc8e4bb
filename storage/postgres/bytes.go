package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// The store keeps every string it is given (IDs, types, state keys, server
// names, ...) in BYTEA columns, not TEXT. Those strings come from other
// servers, and PostgreSQL text can hold neither U+0000 nor invalid UTF-8,
// both of which a peer can put in a signed event (a state key of
// "\u0000" is valid JSON). storage/sqlite stores any bytes and compares
// them with memcmp; bytea does exactly the same, so both stores accept the
// same strings and return them in the same order.
//
// pgx sends a Go string parameter in text format whatever its column, and
// the server would then parse it as bytea's text form (reading "\x41" as
// "A", stopping at NUL). So string parameters are passed as bs, which pgx
// sends in binary form, byte for byte. Scanning a bytea into a *string is
// taught to each connection by registerTypes.

// bs is a string sent to PostgreSQL as bytea, byte for byte.
type bs string

// BytesValue implements pgtype.BytesValuer.
func (s bs) BytesValue() ([]byte, error) { return []byte(s), nil }

// bsp returns *p as a bs parameter, or nil (SQL NULL) for a nil p.
func bsp(p *string) any {
	if p == nil {
		return nil
	}
	return bs(*p)
}

// bss returns ss as a bytea[] parameter.
func bss(ss []string) []bs {
	out := make([]bs, len(ss))
	for i, s := range ss {
		out[i] = bs(s)
	}
	return out
}

// registerTypes makes conn scan bytea (and bytea[]) into strings, byte
// for byte, besides the []byte it scans into already.
func registerTypes(_ context.Context, conn *pgx.Conn) error {
	m := conn.TypeMap()
	bytea := &pgtype.Type{Name: "bytea", OID: pgtype.ByteaOID, Codec: byteaCodec{}}
	m.RegisterType(bytea)
	m.RegisterType(&pgtype.Type{Name: "_bytea", OID: pgtype.ByteaArrayOID, Codec: &pgtype.ArrayCodec{ElementType: bytea}})
	return nil
}

// byteaCodec is pgx's bytea codec that can also scan into a *string.
type byteaCodec struct{ pgtype.ByteaCodec }

// PlanScan implements pgtype.Codec.
func (c byteaCodec) PlanScan(m *pgtype.Map, oid uint32, format int16, target any) pgtype.ScanPlan {
	if _, ok := target.(*string); ok {
		if next := c.ByteaCodec.PlanScan(m, oid, format, (*[]byte)(nil)); next != nil {
			return scanByteaToString{next: next}
		}
		return nil
	}
	return c.ByteaCodec.PlanScan(m, oid, format, target)
}

// scanByteaToString scans through a []byte into a *string.
type scanByteaToString struct{ next pgtype.ScanPlan }

// Scan implements pgtype.ScanPlan.
func (p scanByteaToString) Scan(src []byte, dst any) error {
	if src == nil {
		return errors.New("cannot scan NULL into *string")
	}
	var b []byte
	if err := p.next.Scan(src, &b); err != nil {
		return err
	}
	*dst.(*string) = string(b)
	return nil
}
