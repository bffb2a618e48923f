package fabric

import (
	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/shard"
)

// RevsDiff is one document's `_revs_diff` answer: the revisions the
// database lacks and the leaves that may be their ancestors.
type RevsDiff = shard.RevsDiff

// AttachmentPolicy returns the attachment compression policy writes use,
// so the HTTP layer can encode standalone and multipart attachments the way
// inline ones are.
func (f *Fabric) AttachmentPolicy() couch.AttachmentPolicy { return f.cfg.Attachments }
