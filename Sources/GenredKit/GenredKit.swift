// GenredKit, the library the front ends import, is three targets with floors between them:
//
// - GenredEngine: audio in, analysis out (decoding, the mel spectrogram, the network, the
//   analysis pool). It knows nothing of databases, tags, inotify or systemd.
// - GenredLibrary: what genred keeps and does with analyses (the store, tags, the library
//   processor, eval, learn, queries, similarity, the map, the configuration).
// - GenredServices: what runs for a long time (the watch daemon, the workers, systemd, doctor).
//
// Each target may use only those above it in this list, and the compiler holds it to that.
@_exported import GenredEngine
@_exported import GenredLibrary
@_exported import GenredServices
