package homeserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/embedmatrix/homeserver/content"
	"github.com/embedmatrix/homeserver/federation"
	"github.com/embedmatrix/homeserver/ids"
	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// PublicRoom is one entry of a public room directory: the room's ID,
// joined member count, name, topic, avatar, canonical alias, join rule,
// room type, and whether it is world readable and open to guests.
type PublicRoom = federation.PublicRoom

// PublicRoomsPage is one page of a public room directory.
type PublicRoomsPage struct {
	Rooms []PublicRoom
	// NextBatch and PrevBatch are the since tokens of the pages after and
	// before this one; "" when there is none.
	NextBatch, PrevBatch string
	// Total estimates how many rooms match, over every page.
	Total int
}

// SetAlias creates the alias #name:ourserver for a room this server is in,
// on behalf of sender, who must be joined to it. When the room has no
// m.room.canonical_alias yet, the alias becomes it, sent as sender (who
// then needs the power to send it; without it nothing is created and the
// error matches ErrForbidden). An alias of another server, or with a bad
// grammar, fails with ErrInvalidAlias; one already naming another room
// with ErrAliasTaken. Setting an alias the room has already succeeds.
// https://spec.matrix.org/v1.16/client-server-api/#room-aliases
func (s *Server) SetAlias(ctx context.Context, roomID, sender, alias string) error {
	a, err := s.ourAlias(alias)
	if err != nil {
		return err
	}
	uid, err := s.UserID(sender)
	if err != nil {
		return err
	}
	if err := s.mustBeJoined(ctx, roomID, uid); err != nil {
		return err
	}
	err = s.store.PutAlias(ctx, storage.Alias{Alias: a, RoomID: roomID, Servers: []string{string(s.name)}, Creator: uid, CreatedTS: now().UnixMilli()})
	if errors.Is(err, storage.ErrExists) {
		if old, lerr := s.store.Alias(ctx, a); lerr == nil && old.RoomID == roomID {
			return nil
		}
		return fmt.Errorf("%w: %s", ErrAliasTaken, a)
	} else if err != nil {
		return fmt.Errorf("homeserver: set alias %s: %w", a, err)
	}
	if _, err := s.store.StateEvent(ctx, roomID, spec.MRoomCanonicalAlias, ""); errors.Is(err, storage.ErrNotFound) {
		// https://spec.matrix.org/v1.16/client-server-api/#mroomcanonical_alias
		if err := s.sendState(ctx, roomID, uid, spec.MRoomCanonicalAlias, map[string]string{"alias": a}); err != nil {
			if derr := s.store.DeleteAlias(context.WithoutCancel(ctx), a); derr != nil {
				s.log.Warn("could not take back an alias after its canonical alias failed", "alias", a, "err", derr)
			}
			return fmt.Errorf("homeserver: set alias %s: canonical alias: %w", a, err)
		}
	} else if err != nil {
		return fmt.Errorf("homeserver: set alias %s: %w", a, err)
	}
	return nil
}

// RemoveAlias deletes one of this server's aliases. It leaves the room's
// m.room.canonical_alias alone, even when it names the alias (use
// RemoveAliasAs to update it too). An unknown alias fails with
// ErrUnknownAlias.
func (s *Server) RemoveAlias(ctx context.Context, alias string) error {
	a, err := s.ourAlias(alias)
	if err != nil {
		return err
	}
	if err := s.store.DeleteAlias(ctx, a); errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("%w: %s", ErrUnknownAlias, a)
	} else if err != nil {
		return fmt.Errorf("homeserver: remove alias %s: %w", a, err)
	}
	return nil
}

// RemoveAliasAs deletes one of this server's aliases, as Synapse does
// when a client deletes one: when the room's m.room.canonical_alias names
// it (as alias or among alt_aliases), a new one without it is sent first,
// as sender (a local user joined to the room with the power to send
// it). Without that power nothing changes and the error matches
// ErrForbidden (ErrNotJoined when sender is not joined). When the
// canonical alias does not name it, sender needs no power. An unknown
// alias fails with ErrUnknownAlias; an alias of another server, or with a
// bad grammar, with ErrInvalidAlias.
// https://spec.matrix.org/v1.16/client-server-api/#mroomcanonical_alias
func (s *Server) RemoveAliasAs(ctx context.Context, alias, sender string) error {
	a, err := s.ourAlias(alias)
	if err != nil {
		return err
	}
	uid, err := s.UserID(sender)
	if err != nil {
		return err
	}
	rec, err := s.store.Alias(ctx, a)
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("%w: %s", ErrUnknownAlias, a)
	} else if err != nil {
		return fmt.Errorf("homeserver: remove alias %s: %w", a, err)
	}
	ev, err := s.store.StateEvent(ctx, rec.RoomID, spec.MRoomCanonicalAlias, "")
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return fmt.Errorf("homeserver: remove alias %s: %w", a, err)
	default:
		// A canonical alias content that is not an object names nothing.
		updated, changed, perr := content.CanonicalAliasWithout(content.Of(ev.JSON), a)
		if perr != nil || !changed {
			break
		}
		if err := s.mustBeJoined(ctx, rec.RoomID, uid); err != nil {
			return err
		}
		if err := s.sendState(ctx, rec.RoomID, uid, spec.MRoomCanonicalAlias, updated); err != nil {
			return fmt.Errorf("homeserver: remove alias %s: canonical alias: %w", a, err)
		}
	}
	return s.RemoveAlias(ctx, a)
}

// ResolveAlias returns the room an alias names and servers to join it
// through: from the store for our own aliases (the room's joined servers,
// ours first), over federation (/query/directory) for another server's.
// An alias with a bad grammar fails with ErrInvalidAlias; one that names
// no room with ErrUnknownAlias (for a remote one, the error also matches
// *RemoteError).
func (s *Server) ResolveAlias(ctx context.Context, alias string) (roomID string, servers []string, err error) {
	a, err := ids.ParseAlias(alias)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %w", ErrInvalidAlias, err)
	}
	if a.Server == string(s.name) {
		return s.resolveLocalAlias(ctx, a.String())
	}
	roomID, servers, err = s.client.QueryDirectory(ctx, spec.ServerName(a.Server), a.String())
	var re *RemoteError
	if errors.As(err, &re) && re.Status == http.StatusNotFound {
		return "", nil, fmt.Errorf("%w: %s: %w", ErrUnknownAlias, a, err)
	} else if err != nil {
		return "", nil, fmt.Errorf("homeserver: resolve %s: %w", a, err)
	}
	return roomID, servers, nil
}

// resolveLocalAlias answers for one of our aliases. An unknown alias
// matches ErrUnknownAlias and storage.ErrNotFound (which the federation
// route turns into 404 M_NOT_FOUND).
func (s *Server) resolveLocalAlias(ctx context.Context, alias string) (string, []string, error) {
	rec, err := s.store.Alias(ctx, alias)
	if errors.Is(err, storage.ErrNotFound) {
		return "", nil, fmt.Errorf("%w: %s: %w", ErrUnknownAlias, alias, err)
	} else if err != nil {
		return "", nil, fmt.Errorf("homeserver: resolve %s: %w", alias, err)
	}
	servers := rec.Servers
	if joined, err := s.rooms.JoinedServers(ctx, rec.RoomID); err == nil && len(joined) > 0 {
		servers = joined
	}
	return rec.RoomID, oursFirst(s.ServerName(), servers), nil
}

// oursFirst returns the servers, deduplicated, with ours first when it is
// among them.
func oursFirst(ours string, servers []string) []string {
	out := make([]string, 0, len(servers))
	if slices.Contains(servers, ours) {
		out = append(out, ours)
	}
	for _, srv := range servers {
		if !slices.Contains(out, srv) {
			out = append(out, srv)
		}
	}
	return out
}

// ourAlias checks an alias's grammar and that it is ours.
func (s *Server) ourAlias(alias string) (string, error) {
	a, err := ids.ParseAlias(alias)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidAlias, err)
	}
	if a.Server != string(s.name) {
		return "", fmt.Errorf("%w: %s is not an alias of %s", ErrInvalidAlias, alias, s.name)
	}
	return a.String(), nil
}

// SetPublished puts a room this server is in into its public room
// directory, or takes it out.
func (s *Server) SetPublished(ctx context.Context, roomID string, published bool) error {
	if published {
		if _, err := s.rooms.RoomVersion(ctx, roomID); err != nil {
			return err
		}
	}
	if err := s.store.SetPublished(ctx, roomID, published); err != nil {
		return fmt.Errorf("homeserver: publish %s: %w", roomID, err)
	}
	return nil
}

// PublicRooms returns a page of a public room directory: ours when server
// is "" or our name, else the named server's over federation. search
// matches names, topics and canonical aliases; limit 0 means 100 (the
// most); since is a NextBatch or PrevBatch of an earlier page of the same
// server. A since token our server never issued fails with
// ErrInvalidPageToken.
// https://spec.matrix.org/v1.16/server-server-api/#public-room-directory
func (s *Server) PublicRooms(ctx context.Context, server, search string, limit int, since string) (PublicRoomsPage, error) {
	req := federation.PublicRoomsRequest{Limit: limit, Since: since, Search: search}
	var res federation.PublicRoomsResponse
	var err error
	if server == "" || server == s.ServerName() {
		res, err = s.fed.PublicRoomsPage(ctx, "", req)
	} else {
		res, err = s.client.PublicRooms(ctx, spec.ServerName(server), req)
	}
	if err != nil {
		return PublicRoomsPage{}, fmt.Errorf("homeserver: public rooms of %s: %w", cmpOr(server, s.ServerName()), err)
	}
	return PublicRoomsPage{Rooms: res.Chunk, NextBatch: res.NextBatch, PrevBatch: res.PrevBatch, Total: res.TotalRoomCountEstimate}, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// directoryEntries lists our published rooms as origin may see them (""
// for ourselves): rooms we are no longer in, and rooms whose server ACL
// denies origin, are left out.
func (s *Server) directoryEntries(ctx context.Context, origin string) ([]PublicRoom, error) {
	published, err := s.store.PublishedRooms(ctx)
	if err != nil {
		return nil, fmt.Errorf("homeserver: public rooms: %w", err)
	}
	var out []PublicRoom
	for _, roomID := range published {
		if origin != "" && s.rooms.CheckServerACL(ctx, roomID, spec.ServerName(origin)) != nil {
			continue
		}
		sum, err := s.stateSummary(ctx, roomID, "")
		if errors.Is(err, storage.ErrNotFound) {
			continue
		} else if err != nil {
			return nil, fmt.Errorf("homeserver: public rooms: %w", err)
		}
		if !sum.ours {
			continue
		}
		out = append(out, sum.entry)
	}
	return out, nil
}
