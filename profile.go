package homeserver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/embedmatrix/homeserver/content"
	"github.com/embedmatrix/homeserver/federation"
	"github.com/embedmatrix/homeserver/ids"
	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// Profile is a user's display name and avatar.
type Profile struct {
	UserID      string
	DisplayName string // "" for none
	AvatarURL   string // an mxc:// URI, or "" for none
}

const (
	// defaultProfileTTL is how long a fetched remote profile is used.
	defaultProfileTTL = time.Hour
	// maxDisplayNameBytes bounds a display name we set (Synapse's limit
	// is 256 characters).
	maxDisplayNameBytes = 256
)

// profileState is what the Server keeps for profiles.
type profileState struct {
	// now is the clock the remote profile cache reads; nil is time.Now.
	now func() time.Time
}

func (s *Server) profileNow() time.Time {
	if s.prof.now != nil {
		return s.prof.now()
	}
	return time.Now()
}

func (s *Server) profileTTL() time.Duration {
	if s.cfg.ProfileTTL > 0 {
		return s.cfg.ProfileTTL
	}
	return defaultProfileTTL
}

// SetProfile sets a local user's display name and avatar ("" clears one;
// the avatar must be an mxc:// URI) and sends a new m.room.member join
// carrying them into every room the user has joined. Joins and invites
// the user makes later carry them too. A room that refuses the new join
// does not stop the others: their errors come back joined.
// https://spec.matrix.org/v1.16/client-server-api/#events-on-change-of-profile-information
func (s *Server) SetProfile(ctx context.Context, user, displayName, avatarURL string) error {
	uid, err := s.UserID(user)
	if err != nil {
		return err
	}
	if err := checkProfile(displayName, avatarURL); err != nil {
		return err
	}
	p := storage.Profile{UserID: uid, DisplayName: displayName, AvatarURL: avatarURL, TS: now().UnixMilli()}
	if err := s.store.SetLocalProfile(ctx, p); err != nil {
		return fmt.Errorf("homeserver: set profile of %s: %w", uid, err)
	}
	rs, err := s.store.Rooms(ctx)
	if err != nil {
		return fmt.Errorf("homeserver: set profile of %s: %w", uid, err)
	}
	var errs []error
	for _, r := range rs {
		ev, err := s.store.StateEvent(ctx, r.RoomID, spec.MRoomMember, uid)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		cur := content.MemberOf(ev.JSON)
		if cur.Membership != spec.Join || cur.DisplayName == displayName && cur.AvatarURL == avatarURL {
			continue
		}
		c := memberProfileContent(p)
		c["membership"] = spec.Join
		sk := uid
		if _, err := s.rooms.Send(ctx, r.RoomID, uid, spec.MRoomMember, &sk, c); err != nil {
			errs = append(errs, fmt.Errorf("room %s: %w", r.RoomID, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("homeserver: profile of %s stored, but not sent everywhere: %w", uid, errors.Join(errs...))
	}
	return nil
}

// checkProfile refuses a display name over maxDisplayNameBytes or not
// UTF-8, and an avatar that is neither "" nor an mxc:// URI.
func checkProfile(displayName, avatarURL string) error {
	if len(displayName) > maxDisplayNameBytes || !utf8.ValidString(displayName) {
		return fmt.Errorf("%w: display name must be UTF-8, at most %d bytes", ErrInvalidContent, maxDisplayNameBytes)
	}
	if avatarURL != "" && !isMXC(avatarURL) {
		return fmt.Errorf("%w: avatar %q is not an mxc:// URI", ErrInvalidContent, avatarURL)
	}
	return nil
}

// isMXC says whether u is mxc://<server-name>/<media-id>, the media ID
// made of A-Z, a-z, 0-9, "_" and "-".
// https://spec.matrix.org/v1.16/client-server-api/#matrix-content-mxc-uris
func isMXC(u string) bool {
	rest, ok := strings.CutPrefix(u, "mxc://")
	if !ok {
		return false
	}
	server, media, ok := strings.Cut(rest, "/")
	if !ok || media == "" || ids.CheckServerName(server) != nil {
		return false
	}
	for _, c := range media {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// memberProfileContent is the profile part of an m.room.member content:
// displayname and avatar_url, each only when set.
func memberProfileContent(p storage.Profile) map[string]any {
	c := map[string]any{}
	if p.DisplayName != "" {
		c["displayname"] = p.DisplayName
	}
	if p.AvatarURL != "" {
		c["avatar_url"] = p.AvatarURL
	}
	return c
}

// joinProfile is the profile content a local user's join carries (empty
// when they never set one).
func (s *Server) joinProfile(ctx context.Context, uid string) map[string]any {
	p, err := s.store.LocalProfile(ctx, uid)
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			s.log.Warn("could not read a profile for a join", "user_id", uid, "err", err)
		}
		return map[string]any{}
	}
	return memberProfileContent(p)
}

// inviteeProfile is the profile content an invite of uid carries, as
// Synapse fills it in: a local user's own profile, or what we know of a
// remote user without asking their server (their member events, the
// profile cache), so an invite never waits on the network.
func (s *Server) inviteeProfile(ctx context.Context, uid string) map[string]any {
	server, err := ids.ServerOf(uid)
	if err != nil {
		return map[string]any{}
	}
	if server == s.name {
		return s.joinProfile(ctx, uid)
	}
	if p, ok, err := s.memberProfile(ctx, uid); err == nil && ok {
		return memberProfileContent(storage.Profile{DisplayName: p.DisplayName, AvatarURL: p.AvatarURL})
	}
	if p, err := s.store.RemoteProfile(ctx, uid); err == nil {
		return memberProfileContent(p)
	}
	return map[string]any{}
}

// Profile returns a user's display name and avatar. user is a local user
// name ("alice") or a full user ID of any server. A local user's profile
// is the one SetProfile stored (empty when never set). A remote user's
// comes from their newest join in a room we share; when they share none,
// from /query/profile to their server, cached for Config.ProfileTTL. When
// that server cannot be asked, a cached profile past its TTL is still
// returned; with none cached the error is (matchable with errors.As) a
// *RemoteError for the server's answer.
func (s *Server) Profile(ctx context.Context, user string) (Profile, error) {
	uid, server, err := s.anyUserID(user)
	if err != nil {
		return Profile{}, err
	}
	if server == s.name {
		p, err := s.store.LocalProfile(ctx, uid)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return Profile{}, fmt.Errorf("homeserver: profile of %s: %w", uid, err)
		}
		return Profile{UserID: uid, DisplayName: p.DisplayName, AvatarURL: p.AvatarURL}, nil
	}
	if p, ok, err := s.memberProfile(ctx, uid); err != nil {
		return Profile{}, err
	} else if ok {
		return p, nil
	}
	cached, cerr := s.store.RemoteProfile(ctx, uid)
	if cerr != nil && !errors.Is(cerr, storage.ErrNotFound) {
		return Profile{}, fmt.Errorf("homeserver: profile of %s: %w", uid, cerr)
	}
	if cerr == nil && s.profileNow().Sub(time.UnixMilli(cached.TS)) < s.profileTTL() {
		return Profile{UserID: uid, DisplayName: cached.DisplayName, AvatarURL: cached.AvatarURL}, nil
	}
	fp, err := s.client.QueryProfile(ctx, server, uid, "")
	if err != nil {
		if cerr == nil {
			s.log.Info("could not refresh a remote profile; using the cached one", "user_id", uid, "err", err)
			return Profile{UserID: uid, DisplayName: cached.DisplayName, AvatarURL: cached.AvatarURL}, nil
		}
		return Profile{}, fmt.Errorf("homeserver: profile of %s: %w", uid, err)
	}
	p := remoteProfile(uid, fp.DisplayName, fp.AvatarURL)
	if err := s.store.CacheRemoteProfile(ctx, storage.Profile{
		UserID: uid, DisplayName: p.DisplayName, AvatarURL: p.AvatarURL, TS: s.profileNow().UnixMilli(),
	}); err != nil {
		s.log.Warn("could not cache a remote profile", "user_id", uid, "err", err)
	}
	return p, nil
}

// anyUserID reads a local user name or a full user ID of any server.
func (s *Server) anyUserID(user string) (string, spec.ServerName, error) {
	if !strings.HasPrefix(user, "@") {
		uid, err := s.UserID(user)
		return uid, s.name, err
	}
	u, err := ids.ParseHistoricalUserID(user)
	if err != nil {
		return "", "", fmt.Errorf("%w: %q: %v", ErrInvalidUserID, user, err)
	}
	return u.String(), spec.ServerName(u.Server), nil
}

// remoteProfile is a profile another server gave us, with what we will
// not show dropped: a display name too long or not UTF-8, an avatar that
// is not an mxc:// URI.
func remoteProfile(uid, displayName, avatarURL string) Profile {
	if len(displayName) > maxDisplayNameBytes || !utf8.ValidString(displayName) {
		displayName = ""
	}
	if !isMXC(avatarURL) {
		avatarURL = ""
	}
	return Profile{UserID: uid, DisplayName: displayName, AvatarURL: avatarURL}
}

// memberProfile returns a user's profile from their newest join (by the
// order we stored them) among the current state of the rooms we are in;
// false when they are joined to none.
func (s *Server) memberProfile(ctx context.Context, uid string) (Profile, bool, error) {
	rs, err := s.store.Rooms(ctx)
	if err != nil {
		return Profile{}, false, fmt.Errorf("homeserver: profile of %s: %w", uid, err)
	}
	var newest storage.Event
	for _, r := range rs {
		ev, err := s.store.StateEvent(ctx, r.RoomID, spec.MRoomMember, uid)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return Profile{}, false, fmt.Errorf("homeserver: profile of %s: %w", uid, err)
		}
		if content.MemberOf(ev.JSON).Membership == spec.Join && ev.StreamPos > newest.StreamPos {
			newest = ev
		}
	}
	if newest.EventID == "" {
		return Profile{}, false, nil
	}
	m := content.MemberOf(newest.JSON)
	return remoteProfile(uid, m.DisplayName, m.AvatarURL), true, nil
}

// displayNameIn returns a user's display name in a room, from their
// current m.room.member event ("" for none).
func (s *Server) displayNameIn(ctx context.Context, roomID, userID string) string {
	ev, err := s.store.StateEvent(ctx, roomID, spec.MRoomMember, userID)
	if err != nil {
		return ""
	}
	return content.MemberOf(ev.JSON).DisplayName
}

// setSenderNames fills in the SenderName of messages of one room.
func (s *Server) setSenderNames(ctx context.Context, roomID string, ms []Message) {
	names := map[string]string{}
	for i := range ms {
		name, ok := names[ms[i].Sender]
		if !ok {
			name = s.displayNameIn(ctx, roomID, ms[i].Sender)
			names[ms[i].Sender] = name
		}
		ms[i].SenderName = name
	}
}

// profileChanges lists what a join -> join changed: "displayname",
// "avatar_url" or both.
func profileChanges(prev, next content.Member) []string {
	var out []string
	if prev.DisplayName != next.DisplayName {
		out = append(out, "displayname")
	}
	if prev.AvatarURL != next.AvatarURL {
		out = append(out, "avatar_url")
	}
	return out
}

// serveProfile answers /query/profile for one of our users: 404 for a
// user the host says does not exist (Config.UserExists), otherwise the
// stored profile, empty when never set.
func (s *Server) serveProfile(ctx context.Context, userID string) (federation.Profile, error) {
	u, err := ids.ParseHistoricalUserID(userID)
	if err != nil {
		return federation.Profile{}, fmt.Errorf("%w: %v", federation.ErrUnknownUser, err)
	}
	if s.cfg.UserExists != nil {
		ok, err := s.cfg.UserExists(ctx, u.Localpart)
		if err != nil {
			return federation.Profile{}, fmt.Errorf("homeserver: does %s exist: %w", userID, err)
		}
		if !ok {
			return federation.Profile{}, fmt.Errorf("%w: %s", federation.ErrUnknownUser, userID)
		}
	}
	p, err := s.store.LocalProfile(ctx, u.String())
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return federation.Profile{}, err
	}
	return federation.Profile{DisplayName: p.DisplayName, AvatarURL: p.AvatarURL}, nil
}
