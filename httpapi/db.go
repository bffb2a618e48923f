package httpapi

import (
	"net/http"
	"strconv"

	"github.com/divandb/divan/cluster"
	"github.com/divandb/divan/fabric"
	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/internal/rawjson"
)

// createDB serves PUT /{db} (chttpd_db:create_db_req).
func (a *API) createDB(rq *request, db string) error {
	opts, err := parseShardOpts(rq)
	if err != nil {
		return err
	}
	if err := validateDBName(db); err != nil {
		return err
	}
	if err := a.b.CreateDB(rq.ctx, db, opts); err != nil {
		return err
	}
	if err := a.afterCreateDB(rq.ctx, db); err != nil {
		return err
	}
	rq.setHeader("Location", rq.absoluteURI("/"+couchURLEncode(db)))
	rq.sendOK(http.StatusCreated)
	return nil
}

// parseShardOpts reads ?n=, ?q=, ?placement=, ?engine= and ?partitioned= in
// CouchDB's order.
func parseShardOpts(rq *request) (fabric.CreateDBOptions, error) {
	var o fabric.CreateDBOptions
	for _, k := range []string{"n", "q"} {
		v, ok := rq.qs(k)
		if !ok {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return o, badRequest("The `" + k + "` value should be a positive integer.")
		}
		if k == "n" {
			o.N = n
		} else {
			o.Q = n
		}
	}
	if v, ok := rq.qs("placement"); ok {
		if _, err := cluster.ParsePlacement(v); err != nil {
			return o, badRequest("The `placement` value should be in a format `zone:n`.")
		}
		o.Placement = v
	}
	if v, ok := rq.qs("engine"); ok && v != "couch" {
		return o, badRequest("invalid_engine_extension")
	}
	switch v, ok := rq.qs("partitioned"); {
	case !ok, v == "false":
	case v == "true":
		return o, badRequest("Partitioned feature is not enabled.")
	default:
		return o, badRequest("Invalid `partitioned` parameter")
	}
	return o, nil
}

// deleteDB serves DELETE /{db}.
func (a *API) deleteDB(rq *request, db string) error {
	if _, ok := rq.qs("rev"); ok {
		return badRequest("You tried to DELETE a database with a ?=rev parameter. " +
			"Did you mean to DELETE a document instead?")
	}
	err := a.b.DeleteDB(rq.ctx, db)
	a.secs.forget(db)
	if err != nil {
		return err
	}
	rq.sendOK(http.StatusOK)
	return nil
}

// dbInfo serves GET /{db}.
func (a *API) dbInfo(rq *request, db string) error {
	info, err := a.b.DBInfo(rq.ctx, db)
	if err != nil {
		return err
	}
	rq.sendJSON(http.StatusOK, appendDBInfo(rq.buf[:0], info))
	return nil
}

// appendDBInfo renders db info in the member order CouchDB 3 sends.
func appendDBInfo(b []byte, in *fabric.DBInfo) []byte {
	b = append(b, `{"instance_start_time":`...)
	b = rawjson.AppendString(b, in.InstanceStartTime)
	b = append(b, `,"db_name":`...)
	b = rawjson.AppendString(b, in.Name)
	b = append(b, `,"purge_seq":`...)
	b = appendSeq(b, in.PurgeSeq)
	b = append(b, `,"update_seq":`...)
	b = appendSeq(b, in.UpdateSeq)
	b = append(b, `,"sizes":{"file":`...)
	b = strconv.AppendInt(b, in.SizeFile, 10)
	b = append(b, `,"external":`...)
	b = strconv.AppendInt(b, in.SizeExternal, 10)
	b = append(b, `,"active":`...)
	b = strconv.AppendInt(b, in.SizeActive, 10)
	b = append(b, `},"props":`...)
	if len(in.Props) == 0 {
		b = append(b, "{}"...)
	} else {
		b, _ = rawjson.Compact(b, in.Props)
	}
	b = append(b, `,"doc_del_count":`...)
	b = strconv.AppendInt(b, in.DocDelCount, 10)
	b = append(b, `,"doc_count":`...)
	b = strconv.AppendInt(b, in.DocCount, 10)
	b = append(b, `,"disk_format_version":8,"compact_running":`...)
	b = strconv.AppendBool(b, in.CompactRunning)
	b = append(b, `,"cluster":{"q":`...)
	b = strconv.AppendInt(b, int64(in.Q), 10)
	b = append(b, `,"n":`...)
	b = strconv.AppendInt(b, int64(in.N), 10)
	b = append(b, `,"w":`...)
	b = strconv.AppendInt(b, int64(in.W), 10)
	b = append(b, `,"r":`...)
	b = strconv.AppendInt(b, int64(in.R), 10)
	return append(b, "}}"...)
}

// revsLimit serves GET/PUT /{db}/_revs_limit.
func (a *API) revsLimit(rq *request, db string) error {
	switch rq.method {
	case http.MethodGet:
		n, err := a.b.RevsLimit(rq.ctx, db)
		if err != nil {
			return err
		}
		rq.sendJSON(http.StatusOK, strconv.AppendInt(rq.buf[:0], int64(n), 10))
		return nil
	case http.MethodPut:
		data, err := rq.jsonBody()
		if err != nil {
			return err
		}
		n, ok := jsonInt(data)
		if !ok || n <= 0 || n > 1<<31 {
			// fabric:set_revs_limit has no clause for it: a function_clause.
			return couch.Errorf(couch.CodeUnknown, "function_clause")
		}
		if err := a.b.SetRevsLimit(rq.ctx, db, int(n)); err != nil {
			return err
		}
		rq.sendOK(http.StatusOK)
		return nil
	}
	return notAllowed("PUT,GET")
}

// purgedInfosLimit serves GET/PUT /{db}/_purged_infos_limit.
func (a *API) purgedInfosLimit(rq *request, db string) error {
	switch rq.method {
	case http.MethodGet:
		n, err := a.b.PurgedInfosLimit(rq.ctx, db)
		if err != nil {
			return err
		}
		rq.sendJSON(http.StatusOK, strconv.AppendInt(rq.buf[:0], int64(n), 10))
		return nil
	case http.MethodPut:
		// authorizeDB checked for a db admin (couch_db:set_purge_infos_limit
		// runs check_is_admin on every copy).
		data, err := rq.jsonBody()
		if err != nil {
			return err
		}
		n, ok := jsonInt(data)
		if !ok || n <= 0 || n > 1<<31 {
			return badRequest("`purge_infos_limit` must be positive integer")
		}
		if err := a.b.SetPurgedInfosLimit(rq.ctx, db, int(n)); err != nil {
			return err
		}
		rq.sendOK(http.StatusOK)
		return nil
	}
	return notAllowed("GET,PUT")
}

// ensureFullCommit serves POST /{db}/_ensure_full_commit. Acknowledged
// writes are already durable, so it only reports the instance start time.
func (a *API) ensureFullCommit(rq *request, db string) error {
	if rq.method != http.MethodPost {
		return notAllowed("POST")
	}
	if err := rq.requireJSONCType(); err != nil {
		return err
	}
	info, err := a.b.DBInfo(rq.ctx, db)
	if err != nil {
		return err
	}
	b := append(rq.buf[:0], `{"ok":true,"instance_start_time":`...)
	b = rawjson.AppendString(b, info.InstanceStartTime)
	rq.sendJSON(http.StatusCreated, append(b, '}'))
	return nil
}

// compact serves POST /{db}/_compact[/{ddoc}]. Storage compacts itself, so
// this only checks its arguments.
func (a *API) compact(rq *request, db string) error {
	if rq.method != http.MethodPost {
		return notAllowed("POST")
	}
	if err := rq.requireJSONCType(); err != nil {
		return err
	}
	if len(rq.parts) > 2 {
		// View index compaction: nothing to do until views exist, but the
		// design document must.
		id := "_design/" + rq.parts[2]
		if _, err := a.b.OpenDoc(rq.ctx, db, id, fabric.ReadOptions{}); err != nil {
			return err
		}
	} else if err := a.b.Compact(rq.ctx, db); err != nil {
		return err
	}
	rq.sendOK(http.StatusAccepted)
	return nil
}

// viewCleanup serves POST /{db}/_view_cleanup.
func (a *API) viewCleanup(rq *request, db string) error {
	if rq.method != http.MethodPost {
		return notAllowed("POST")
	}
	if err := a.checkDB(rq.ctx, db); err != nil {
		return err
	}
	rq.sendOK(http.StatusAccepted)
	return nil
}
