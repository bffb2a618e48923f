// Interoperability checks with real CouchDB clients against a running Divan
// node: PouchDB replication both ways and live sync, nano's basic
// operations, and both clients authenticating as a _users user (cookie and
// basic auth). Usage: DIVAN_URL=http://user:pass@127.0.0.1:5984 node interop.js
'use strict';

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const PouchDB = require('pouchdb-core')
  .plugin(require('pouchdb-adapter-http'))
  .plugin(require('pouchdb-adapter-memory'))
  .plugin(require('pouchdb-replication'));

const base = process.env.DIVAN_URL;
if (!base) {
  console.error('DIVAN_URL is required');
  process.exit(2);
}
const NDOCS = Number(process.env.INTEROP_DOCS || 2000);
const tag = crypto.randomBytes(4).toString('hex');

let passed = 0;
let failed = 0;
async function check(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    passed++;
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (err) {
    failed++;
    console.log(`FAIL ${name}: ${err && err.stack ? err.stack : err}`);
  }
}

function memdb(name) {
  return new PouchDB(`${name}-${tag}`, { adapter: 'memory' });
}
function remote(name) {
  return new PouchDB(`${base}/${name}-${tag}`);
}

// seed fills db with NDOCS docs: plain ones, some with attachments, some
// deleted, some with conflicts (written with new_edits=false), and _local docs.
async function seed(db, prefix) {
  const docs = [];
  for (let i = 0; i < NDOCS; i++) {
    const doc = { _id: `${prefix}${String(i).padStart(5, '0')}`, i, text: 'x'.repeat(i % 200), nested: { a: [i, 'ü', 1.5] } };
    if (i % 50 === 0) {
      doc._attachments = {
        'note.txt': { content_type: 'text/plain', data: Buffer.from(`note ${i}`).toString('base64') },
        'blob.bin': { content_type: 'application/octet-stream', data: crypto.randomBytes(100 + i).toString('base64') },
      };
    }
    docs.push(doc);
  }
  const res = await db.bulkDocs(docs);
  for (const r of res) assert.ok(r.ok, JSON.stringify(r));
  // deletions
  for (let i = 1; i < NDOCS; i += 97) {
    const d = await db.get(docs[i]._id);
    await db.remove(d);
  }
  // conflicts: a second branch from the first revision
  for (let i = 3; i < NDOCS; i += 101) {
    const d = await db.get(docs[i]._id, { revs: true });
    const gen = d._revisions.start;
    await db.bulkDocs([
      { _id: d._id, _rev: `${gen + 1}-${crypto.randomBytes(16).toString('hex')}`, branch: 'b',
        _revisions: { start: gen + 1, ids: [crypto.randomBytes(16).toString('hex'), d._revisions.ids[0]] } },
    ], { new_edits: false });
  }
  await db.put({ _id: '_local/mine', keep: 'me' });
  return docs;
}

// snapshot returns id -> sorted leaves (rev, deleted, _revisions ids,
// attachment digests) for every doc of db, deleted ones included.
async function snapshot(db) {
  const out = {};
  const changes = await db.changes({ style: 'all_docs', since: 0 });
  for (const ch of changes.results) {
    const leaves = await db.get(ch.id, { open_revs: 'all', revs: true });
    const entries = [];
    for (const l of leaves.filter((x) => x.ok)) {
      const atts = {};
      for (const [name, att] of Object.entries(l.ok._attachments || {})) {
        // CouchDB (and so Divan) digests the gzipped bytes of compressible
        // types while PouchDB digests the raw bytes, so for those compare a
        // hash of the data itself.
        if (att.content_type.startsWith('text/')) {
          const data = await db.getAttachment(ch.id, name, { rev: l.ok._rev });
          atts[name] = 'sha256-' + crypto.createHash('sha256').update(data).digest('hex');
        } else {
          atts[name] = att.digest;
        }
      }
      entries.push({
        rev: l.ok._rev,
        deleted: !!l.ok._deleted,
        revisions: l.ok._revisions,
        body: JSON.stringify(Object.fromEntries(Object.entries(l.ok).filter(([k]) => !k.startsWith('_')))),
        atts,
      });
    }
    out[ch.id] = entries.sort((a, b) => (a.rev < b.rev ? -1 : 1));
  }
  return out;
}

async function assertSame(a, b, what) {
  const [sa, sb] = [await snapshot(a), await snapshot(b)];
  const ka = Object.keys(sa).sort();
  const kb = Object.keys(sb).sort();
  assert.deepEqual(kb, ka, `${what}: document ids differ`);
  for (const id of ka) assert.deepEqual(sb[id], sa[id], `${what}: ${id} differs`);
  return ka.length;
}

async function main() {
  await check('pouchdb: push 2000 docs with conflicts, deletions, attachments, _local', async () => {
    const src = memdb('src');
    await seed(src, 'p');
    const target = remote('push');
    const r = await src.replicate.to(target);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.doc_write_failures, 0);
    const n = await assertSame(src, target, 'after push');
    assert.equal(n, NDOCS);
    // PouchDB's http adapter rejects with the parsed CouchDB error object.
    await assert.rejects(target.get('_local/mine'), { status: 404, name: 'not_found' }, '_local docs must not replicate');
    // a second replication finds nothing to do and resumes from its checkpoint
    const again = await src.replicate.to(target);
    assert.equal(again.docs_written, 0);
  });

  await check('pouchdb: pull into a fresh PouchDB', async () => {
    const source = remote('push');
    const dst = memdb('dst');
    const r = await dst.replicate.from(source);
    assert.ok(r.ok);
    assert.equal(r.doc_write_failures, 0);
    await assertSame(source, dst, 'after pull');
    const att = await dst.getAttachment('p00050', 'note.txt');
    assert.equal(att.toString(), 'note 50');
  });

  await check('pouchdb: live sync while both sides write', async () => {
    const local = memdb('live');
    const rem = remote('live');
    await rem.info(); // create
    const sync = local.sync(rem, { live: true, retry: true });
    const writes = [];
    for (let i = 0; i < 100; i++) {
      writes.push(local.put({ _id: `l${i}`, side: 'local' }));
      writes.push(rem.put({ _id: `r${i}`, side: 'remote' }));
    }
    await Promise.all(writes);
    // the same doc edited on both sides becomes a conflict on both
    await local.put({ _id: 'both', side: 'local' });
    await rem.put({ _id: 'both', side: 'remote' });
    const deadline = Date.now() + 30000;
    for (;;) {
      const [a, b] = [await local.info(), await rem.info()];
      if (a.doc_count === 201 && b.doc_count === 201) {
        const [ba, bb] = [await local.get('both', { conflicts: true }), await rem.get('both', { conflicts: true })];
        if ((ba._conflicts || []).length === 1 && (bb._conflicts || []).length === 1) break;
      }
      if (Date.now() > deadline) throw new Error(`sync did not converge: local ${a.doc_count}, remote ${b.doc_count}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    sync.cancel();
    await assertSame(local, rem, 'after live sync');
  });

  const nano = require('nano')(base);
  await check('nano: db create/list/destroy', async () => {
    const name = `nano-${tag}`;
    await nano.db.create(name);
    const list = await nano.db.list();
    assert.ok(list.includes(name));
    const info = await nano.db.get(name);
    assert.equal(info.db_name, name);
    await nano.db.destroy(name);
    assert.ok(!(await nano.db.list()).includes(name));
  });

  await check('nano: insert/get/bulk/changes/attachments', async () => {
    const name = `nano-docs-${tag}`;
    await nano.db.create(name);
    const db = nano.use(name);
    const ins = await db.insert({ hello: 'world' }, 'doc1');
    assert.ok(ins.ok);
    const got = await db.get('doc1');
    assert.equal(got.hello, 'world');
    const bulk = await db.bulk({ docs: [{ _id: 'a' }, { _id: 'b' }, { _id: 'doc1' }] });
    assert.equal(bulk.length, 3);
    assert.equal(bulk[2].error, 'conflict');
    const changes = await db.changes({ since: 0 });
    assert.equal(changes.results.length, 3);
    const data = crypto.randomBytes(5000);
    const att = await db.attachment.insert('withatt', 'file.bin', data, 'application/octet-stream');
    assert.ok(att.ok);
    const back = await db.attachment.get('withatt', 'file.bin');
    assert.ok(Buffer.compare(back, data) === 0, 'attachment bytes differ');
    const list = await db.list({ include_docs: true });
    assert.equal(list.rows.length, 4);
    await nano.db.destroy(name);
  });

  await checkAuth(nano);

  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}

// checkAuth: a _users user with member rights on one database logs in with
// nano's cookie session and PouchDB's basic auth; the wrong password and
// other databases are refused as CouchDB refuses them.
async function checkAuth(admin) {
  const url = new URL(base);
  const plain = `${url.protocol}//${url.host}`;
  const user = `alice-${tag}`;
  const password = 'wonderland-' + tag;
  const dbname = `private-${tag}`;
  const other = `other-${tag}`;

  await check('auth: admin creates a _users user and a members-only db', async () => {
    const users = admin.use('_users');
    const r = await users.insert({ _id: `org.couchdb.user:${user}`, name: user, password, roles: [], type: 'user' });
    assert.ok(r.ok);
    const stored = await users.get(`org.couchdb.user:${user}`);
    assert.equal(stored.password, undefined, 'password must be stored hashed');
    assert.equal(stored.password_scheme, 'pbkdf2');
    await admin.db.create(dbname);
    await admin.db.create(other);
    await admin.request({ db: dbname, path: '_security', method: 'PUT',
      body: { admins: { names: [], roles: [] }, members: { names: [user], roles: [] } } });
  });

  await check('auth: nano cookie session as the user', async () => {
    const client = require('nano')({ url: plain });
    const res = await client.auth(user, password);
    assert.equal(res.ok, true);
    assert.equal(res.name, user);
    const session = await client.session();
    assert.equal(session.userCtx.name, user);
    assert.equal(session.info.authenticated, 'cookie');
    const db = client.use(dbname);
    assert.ok((await db.insert({ _id: 'by-cookie', v: 1 })).ok);
    assert.equal((await db.get('by-cookie')).v, 1);
    await assert.rejects(client.use(other).get('x'), { statusCode: 403, error: 'forbidden' });
    await assert.rejects(client.db.list(), { statusCode: 401, error: 'unauthorized' });
  });

  await check('auth: nano refuses a wrong password', async () => {
    const client = require('nano')({ url: plain });
    await assert.rejects(client.auth(user, 'not-it'), { statusCode: 401, error: 'unauthorized' });
  });

  await check('auth: PouchDB with basic auth replicates as the user', async () => {
    const remoteDB = new PouchDB(`${plain}/${dbname}`, { auth: { username: user, password } });
    const local = memdb('authsrc');
    await local.bulkDocs([{ _id: 'a', n: 1 }, { _id: 'b', n: 2 }]);
    const r = await local.replicate.to(remoteDB);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.docs_written, 2);
    const info = await remoteDB.info();
    assert.equal(info.doc_count, 3);
    const anonymous = new PouchDB(`${plain}/${dbname}`, { skip_setup: true });
    await assert.rejects(anonymous.get('a'), { status: 401, name: 'unauthorized' });
    const wrong = new PouchDB(`${plain}/${dbname}`, { skip_setup: true, auth: { username: user, password: 'nope' } });
    await assert.rejects(wrong.get('a'), { status: 401, name: 'unauthorized' });
  });

  await admin.db.destroy(dbname);
  await admin.db.destroy(other);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
