package httpapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/divandb/divan/internal/couch"
)

// Routing mirrors chttpd's handler tables rather than a pattern router:
// CouchDB dispatches on path_parts (the decoded, non-empty segments), so
// "/db/" is the database, "/a%2Fb" the database "a/b", an unknown "/_x" a
// database named "_x" (admin only), and an unknown "/db/_x" a document.

// pendingServer lists server endpoints CouchDB has that Divan does not serve
// yet; they answer 501 (after the admin check) instead of being mistaken
// for database names.
// (CouchDB 3 has no top-level /_config: like any unknown "/_x" it is a
// database name, so it answers 404 "Database does not exist.")
var pendingServer = map[string]bool{
	"_active_tasks": true, "_scheduler": true, "_replicate": true, "_reshard": true,
	"_db_updates": true, "_stats": true, "_system": true,
	"_restart": true, "_reload_query_servers": true, "_prometheus": true,
	"_search_analyze": true, "_nouveau_analyze": true,
}

// pendingDB lists database endpoints not served yet (501).
var pendingDB = map[string]bool{
	"_local_docs": true, "_find": true, "_index": true, "_explain": true,
	"_partition": true, "_purged_infos": true,
	"_temp_view": true, "_search_cleanup": true, "_nouveau_cleanup": true,
	"_design_info": true,
}

// route dispatches an authenticated request.
func (a *API) route(rq *request) error {
	p := rq.parts
	if len(p) == 0 {
		return a.handleWelcome(rq)
	}
	switch p[0] {
	case "favicon.ico":
		return a.handleFavicon(rq)
	case "_up":
		return a.handleUp(rq)
	case "_uuids":
		return a.handleUUIDs(rq)
	case "_session":
		return a.handleSession(rq)
	case "_all_dbs", "_dbs_info":
		if a.conf().AdminOnlyAllDBs {
			if err := rq.requireAdmin(); err != nil {
				return err
			}
		}
		if p[0] == "_all_dbs" {
			return a.handleAllDBs(rq)
		}
		return a.handleDBsInfo(rq)
	case "_utils":
		return errNotImpl
	case "_users", "_replicator":
		// System databases follow the database rules below.
	default:
		if strings.HasPrefix(p[0], "_") {
			if err := rq.requireAdmin(); err != nil {
				return err
			}
			switch p[0] {
			case "_membership":
				return a.handleMembership(rq)
			case "_node":
				return a.handleNode(rq)
			case "_cluster_setup":
				return a.handleClusterSetup(rq)
			}
			if pendingServer[p[0]] {
				return errNotImpl
			}
		}
	}
	return a.routeDB(rq, p[0])
}

// routeDB serves /{db}/... A client error found before the database was
// opened gives way to 404 when the database does not exist, because
// CouchDB opens the database (chttpd_db:do_db_req) before anything else.
func (a *API) routeDB(rq *request, db string) error {
	if len(rq.parts) == 1 {
		switch rq.method {
		case http.MethodPut:
			if err := rq.requireAdmin(); err != nil {
				return err
			}
			return a.createDB(rq, db)
		case http.MethodDelete:
			if err := rq.requireAdmin(); err != nil {
				return err
			}
			return a.deleteDB(rq, db)
		}
	}
	err := a.dbRequest(rq, db)
	if err != nil && !rq.dbChecked && isClientError(err) {
		if e := a.checkDB(rq.ctx, db); errors.Is(e, couch.ErrNoDB) {
			return e
		}
	}
	return err
}

func (a *API) dbRequest(rq *request, db string) error {
	p := rq.parts
	rq.ctx = withUser(rq.ctx, rq.user) // the shards' write checks judge by it
	if err := a.authorizeDB(rq, db); err != nil {
		return err
	}
	if len(p) == 2 && p[1] == "_sync_shards" {
		return a.syncShards(rq, db)
	}
	if len(p) == 1 {
		switch rq.method {
		case http.MethodGet:
			return a.dbInfo(rq, db)
		case http.MethodPost:
			return a.postDoc(rq, db)
		}
		return notAllowed("DELETE,GET,HEAD,POST")
	}
	second := p[1]
	switch second {
	case "_all_docs", "_design_docs":
		if len(p) == 2 {
			return a.allDocs(rq, db, second == "_design_docs")
		}
		if len(p) == 3 && p[2] == "queries" {
			if rq.method != http.MethodPost {
				return notAllowed("POST")
			}
			return errNotImpl
		}
	case "_bulk_docs":
		if len(p) == 2 {
			return a.bulkDocs(rq, db)
		}
	case "_changes":
		if len(p) == 2 {
			return a.changes(rq, db)
		}
	case "_revs_diff", "_missing_revs":
		if len(p) == 2 {
			return a.revsDiff(rq, db, second == "_missing_revs")
		}
	case "_bulk_get":
		if len(p) == 2 {
			return a.bulkGet(rq, db)
		}
	case "_revs_limit":
		if len(p) == 2 {
			return a.revsLimit(rq, db)
		}
	case "_security":
		if len(p) == 2 {
			return a.security(rq, db)
		}
	case "_purged_infos_limit":
		if len(p) == 2 {
			return a.purgedInfosLimit(rq, db)
		}
	case "_ensure_full_commit":
		if len(p) == 2 {
			return a.ensureFullCommit(rq, db)
		}
	case "_purge":
		if len(p) == 2 {
			return a.purge(rq, db)
		}
	case "_shards":
		return a.shardsReq(rq, db)
	case "_sync_shards":
		return notAllowed("POST") // mem3_httpd:handle_sync_req
	case "_compact":
		return a.compact(rq, db)
	case "_view_cleanup":
		if len(p) == 2 {
			return a.viewCleanup(rq, db)
		}
	case "_design":
		return a.designRoute(rq, db)
	case "_local":
		switch len(p) {
		case 2:
			return badRequest("Invalid _local document id.")
		case 3:
			return a.docRequest(rq, db, "_local/"+p[2])
		}
		return badRequest("_local documents do not accept attachments.")
	case "_local/":
		return badRequest("Invalid _local document id.")
	default:
		if pendingDB[second] {
			return errNotImpl
		}
		if rq.method == http.MethodGet && strings.HasPrefix(second, "_design/") {
			return a.designRedirect(rq)
		}
	}
	if len(p) == 2 {
		return a.docRequest(rq, db, second)
	}
	return a.attachmentRequest(rq, db, second)
}

// designRoute serves /{db}/_design/{name}[/...].
func (a *API) designRoute(rq *request, db string) error {
	p := rq.parts
	if len(p) == 2 {
		return a.docRequest(rq, db, "_design")
	}
	id := "_design/" + p[2]
	if len(p) == 3 {
		return a.docRequest(rq, db, id)
	}
	if strings.HasPrefix(p[3], "_") {
		// Design handlers (_view, _info, _show, ...) open the design doc
		// first: a missing one is a 404.
		if _, err := a.b.OpenDoc(rq.ctx, db, id, readOptions(rq, couch.OpenOptions{})); err != nil {
			return err
		}
		return errNotImpl
	}
	return a.attachmentRequest(rq, db, id)
}

// designRedirect answers GET /db/_design%2Fname with a 301 to the unescaped
// form, as chttpd_db does.
func (a *API) designRedirect(rq *request) error {
	raw := rq.r.RequestURI
	if raw == "" || raw[0] != '/' {
		raw = rq.r.URL.RequestURI()
	}
	const enc = "_design%2f"
	var out strings.Builder
	first := true
	for {
		i := strings.Index(strings.ToLower(raw), enc)
		if i < 0 {
			out.WriteString(raw)
			break
		}
		out.WriteString(raw[:i])
		if first {
			out.WriteString("_design/")
			first = false
		}
		raw = raw[i+len(enc):]
	}
	rq.setHeader("Location", rq.absoluteURI(out.String()))
	rq.sendEmpty(http.StatusMovedPermanently)
	return nil
}
