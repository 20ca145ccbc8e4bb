// Package media owns the rules of Matrix media that can be checked without
// a Server: mxc:// URIs and media IDs, content-type sniffing, thumbnails
// (with decompression-bomb limits), the multipart/mixed shape of the
// federation media API, and the Store interface that holds media bytes.
//
// media/mediatest is the Store conformance suite; media/fsstore is the
// default Store, a content-addressed folder.
//
// media imports the standard library, golang.org/x/image and the module's
// ids package only. It must not import storage, rooms, federation or the
// root package: storage backends import media, never the reverse.
package media
