/// The `status` location's page: one self-contained HTML document (no external assets) that polls its own URL
/// with `?format=json` every 2 seconds and renders upstreams, peers and server blocks. See docs/api.md.
enum StatusPageHTML {
    static let page: String = #"""
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>maitred status</title>
<style>
:root{--fg:#1b1f24;--mut:#5b6573;--bd:#d8dde3;--bg:#f4f5f7;--card:#fff;--head:#eef1f4}
*{box-sizing:border-box}
body{margin:0;padding:12px 16px 32px;font:13px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--fg);background:var(--bg)}
header{display:flex;align-items:baseline;gap:12px;flex-wrap:wrap}
h1{margin:0;font-size:20px}
h1 .ver{font-weight:400;color:var(--mut);font-size:14px}
h2{font-size:15px;margin:18px 0 8px}
.upd{margin-left:auto;color:var(--mut);font-variant-numeric:tabular-nums}
.upd.stale{color:#b42318;font-weight:600}
.banner{margin:8px 0;padding:8px 12px;border-radius:4px;background:#c62828;color:#fff;font-weight:600}
.meta{color:var(--mut);margin:4px 0 10px}
.meta b{color:var(--fg);font-weight:600}
.badge{display:inline-block;padding:0 7px;border-radius:9px;font-size:12px;font-weight:600;line-height:18px}
.badge.ok{background:#dcf5e3;color:#166534}
.badge.bad{background:#c62828;color:#fff}
.stats{display:flex;flex-wrap:wrap;gap:8px}
.stat{background:var(--card);border:1px solid var(--bd);border-radius:6px;padding:6px 12px;min-width:92px}
.stat .k{color:var(--mut);font-size:11px;text-transform:uppercase;letter-spacing:.04em}
.stat .v{font-size:18px;font-weight:600;font-variant-numeric:tabular-nums}
.card{background:var(--card);border:1px solid var(--bd);border-radius:6px;margin:0 0 12px;overflow:hidden}
.card>.ch{display:flex;flex-wrap:wrap;gap:4px 16px;align-items:baseline;padding:7px 10px;background:var(--head);border-bottom:1px solid var(--bd)}
.ch .nm{font-weight:700;font-size:14px}
.ch .mut{color:var(--mut)}
.ch .cnt{margin-left:auto;font-weight:600}
.wrap{overflow-x:auto}
table{border-collapse:collapse;width:100%}
th,td{padding:4px 10px;border-bottom:1px solid #eceff2;text-align:left;vertical-align:top;white-space:nowrap}
th{font-size:11px;font-weight:600;color:var(--mut);text-transform:uppercase;letter-spacing:.03em;background:#fafbfc}
tr:last-child td{border-bottom:0}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
td.ev{white-space:normal;min-width:220px;color:#333;font-size:12px}
td.ev div{white-space:nowrap}
.warn{color:#b45309;font-weight:600}
.err{color:#b42318;font-weight:600}
.mut{color:var(--mut)}
.pill{display:inline-block;min-width:64px;text-align:center;padding:0 8px;border-radius:9px;font-size:12px;font-weight:600;line-height:18px}
.s-up{background:#dcf5e3;color:#166534}
.s-draining{background:#fdf0c8;color:#8a4b08}
.s-down{background:#e4e6ea;color:#3f4650}
.s-unavail,.s-unhealthy{background:#fde0e0;color:#a11d1d}
.s-checking{background:#dbe8fd;color:#1e4fae}
.s-other{background:#eee;color:#333}
tr.bad td:first-child{box-shadow:inset 3px 0 #d32f2f}
tr.amber td:first-child{box-shadow:inset 3px 0 #d69e2e}
.empty{padding:8px 10px;color:var(--mut)}
.noscript{padding:10px;background:#fff3cd;border:1px solid #e0c36a;border-radius:4px}
</style>
</head>
<body>
<noscript><p class="noscript">This status page needs JavaScript. The same data is available as JSON at <a href="?format=json">?format=json</a>.</p></noscript>
<header><h1>maitred <span class="ver" id="ver"></span></h1><span class="upd" id="updated">loading…</span></header>
<div class="banner" id="banner" role="alert" hidden></div>
<div id="app"></div>
<script>
(function () {
  'use strict';
  var POLL_MS = 2000, TIMEOUT_MS = 5000, SRC = location.pathname + '?format=json';
  var ORDER = ['up', 'draining', 'checking', 'unhealthy', 'unavail', 'down'];
  var ALGO = {round_robin: 'round robin', least_conn: 'least connections', ip_hash: 'ip hash'};
  var prev = null, prevAt = 0, dt = null, lastOk = 0;
  function $(id) { return document.getElementById(id); }
  // DOM builder: every value goes in through textContent/setAttribute, never innerHTML.
  function h(tag, attrs, kids) {
    var e = document.createElement(tag), k;
    if (attrs) for (k in attrs) {
      if (!Object.prototype.hasOwnProperty.call(attrs, k) || attrs[k] == null) continue;
      if (k === 'class') e.className = attrs[k]; else e.setAttribute(k, String(attrs[k]));
    }
    add(e, kids);
    return e;
  }
  function add(e, kids) {
    if (kids == null) return;
    if (!Array.isArray(kids)) kids = [kids];
    for (var i = 0; i < kids.length; i++) {
      var c = kids[i];
      if (c == null) continue;
      e.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
    }
  }
  function obj(x) { return x && typeof x === 'object' && !Array.isArray(x) ? x : {}; }
  function arr(x) { return Array.isArray(x) ? x : []; }
  function num(x) { return typeof x === 'number' && isFinite(x) ? x : null; }
  function str(x) { return x == null ? '' : String(x); }
  function has(o, k) { return Object.prototype.hasOwnProperty.call(o, k); }
  function pad(n) { return (n < 10 ? '0' : '') + n; }
  function hms(d) { return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds()); }
  function date(s) { var t = typeof s === 'string' ? Date.parse(s) : NaN; return isNaN(t) ? null : new Date(t); }
  function when(s) {
    var d = date(s);
    if (!d) return s == null ? '–' : str(s);
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' + hms(d);
  }
  function int(n) { n = num(n); return n == null ? '–' : String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ','); }
  function delta(c, p) { c = num(c); p = num(p); return c == null || p == null || c < p ? null : c - p; }
  function rate(c, p) { var d = delta(c, p); return d == null || !dt ? null : d / dt; }
  function rateStr(r) { return r == null ? '–' : r < 10 ? r.toFixed(1) : int(r); }
  function pct(a, b) {
    if (a == null || b == null || b <= 0) return '–';
    var p = 100 * a / b;
    return (p === 0 ? '0' : p < 10 ? p.toFixed(1) : String(Math.round(p))) + '%';
  }
  function ms(v) {
    if (v == null) return '–';
    if (v <= 0) return '0 ms';
    if (v < 0.01) return '<0.01 ms';
    return (v < 10 ? String(Number(v.toPrecision(2))) : int(v)) + ' ms';
  }
  // Histogram of the window: current minus previous counts when both exist with the same bounds and no counter
  // went backwards; otherwise the cumulative counts.
  function hist(c, p) {
    c = obj(c);
    var b = arr(c.bounds_ms).map(num), n = arr(c.counts).map(function (x) { return num(x) || 0; }), i;
    if (n.length !== b.length + 1 || b.indexOf(null) >= 0) return null;
    if (p) {
      p = obj(p);
      var pb = arr(p.bounds_ms), pn = arr(p.counts), d = [];
      if (pn.length === n.length && pb.length === b.length && pb.every(function (x, j) { return x === b[j]; })) {
        for (i = 0; i < n.length; i++) { var x = n[i] - (num(pn[i]) || 0); if (x < 0) break; d.push(x); }
        if (d.length === n.length) return {b: b, n: d};
      }
    }
    return {b: b, n: n};
  }
  function quantile(hs, q) {
    if (!hs) return null;
    var total = 0, cum = 0, i;
    for (i = 0; i < hs.n.length; i++) total += hs.n[i];
    if (total <= 0) return null;
    var target = q * total;
    for (i = 0; i < hs.n.length; i++) {
      var c = hs.n[i];
      if (c > 0 && cum + c >= target) {
        if (i >= hs.b.length) return {gt: hs.b.length ? hs.b[hs.b.length - 1] : 0};
        var lo = i ? hs.b[i - 1] : 0, hi = hs.b[i];
        return {v: lo + (hi - lo) * (target - cum) / c};
      }
      cum += c;
    }
    return null;
  }
  function qStr(hs, q) { var r = quantile(hs, q); return !r ? '–' : r.gt != null ? '> ' + ms(r.gt) : ms(r.v); }
  function stateClass(s) { return ORDER.indexOf(s) >= 0 ? 's-' + s : 's-other'; }
  function checkSummary(hc) {
    if (!hc || typeof hc !== 'object') return 'no health check';
    var s = 'check ' + (hc.type != null ? str(hc.type) : '?');
    if (num(hc.interval_ms) != null) s += ' every ' + hc.interval_ms + ' ms';
    if (num(hc.rise) != null) s += ', rise ' + hc.rise;
    if (num(hc.fall) != null) s += ', fall ' + hc.fall;
    if (num(hc.timeout_ms) != null) s += ', timeout ' + hc.timeout_ms + ' ms';
    return s;
  }
  function stat(k, v, cls) { return h('div', {class: 'stat'}, [h('div', {class: 'k'}, k), h('div', {class: 'v' + (cls ? ' ' + cls : '')}, v)]); }
  function th(labels) {
    return h('thead', null, h('tr', null, labels.map(function (l) {
      return l.charAt(0) === '#' ? h('th', {class: 'n'}, l.slice(1)) : h('th', null, l);
    })));
  }
  function td(v, cls, title) { return h('td', {class: cls, title: title}, v); }

  function renderSummary(doc, p, out) {
    var m = obj(doc.maitred), c = obj(doc.connections), rq = obj(doc.requests);
    $('ver').textContent = m.version != null ? str(m.version) : '';
    var ok = m.last_reload_ok;
    add(out, h('div', {class: 'meta'}, [
      'pid ', h('b', null, m.pid != null ? str(m.pid) : '–'),
      ' · generation ', h('b', null, m.generation != null ? str(m.generation) : '–'),
      ' · last reload ', h('b', {title: str(m.load_timestamp)}, when(m.load_timestamp)), ' ',
      ok === false ? h('span', {class: 'badge bad'}, 'last reload failed')
        : ok === true ? h('span', {class: 'badge ok'}, 'last reload ok') : null,
      ' · now ', h('b', {title: str(m.timestamp)}, when(m.timestamp))
    ]));
    var pr = obj(p && p.requests);
    add(out, h('div', {class: 'stats'}, [
      stat('active', int(c.active)), stat('reading', int(c.reading)), stat('writing', int(c.writing)),
      stat('waiting', int(c.waiting)), stat('accepted', int(c.accepted)),
      stat('handled', int(c.handled), num(c.handled) != null && num(c.accepted) != null && c.handled < c.accepted ? 'warn' : ''),
      stat('requests', int(rq.total)), stat('requests/s', rateStr(rate(rq.total, pr.total)))
    ]));
  }

  function eventsCell(history) {
    var list = arr(history).map(function (e, i) { e = obj(e); return {d: date(e.time), t: e.time, ev: str(e.event), i: i}; });
    list.sort(function (a, b) {
      if (a.d && b.d && a.d.getTime() !== b.d.getTime()) return b.d - a.d;
      return b.i - a.i;
    });
    if (!list.length) return td('–', 'ev mut');
    var full = list.map(function (e) { return (e.d ? when(e.t) : str(e.t)) + '  ' + e.ev; }).join('\n');
    return td(list.slice(0, 3).map(function (e) { return h('div', null, (e.d ? hms(e.d) : str(e.t)) + ' ' + e.ev); }), 'ev', full);
  }

  function upstreamCard(name, u, pu) {
    u = obj(u);
    var peers = arr(u.peers), hc = u.health_check, hasCheck = !!hc && typeof hc === 'object';
    var prevPeers = {}, counts = {}, states = [];
    if (pu) arr(obj(pu).peers).forEach(function (q) { q = obj(q); prevPeers[str(q.server) + ' #' + str(q.id)] = q; });
    var rows = peers.map(function (p) {
      p = obj(p);
      var state = str(p.state), server = str(p.server);
      if (!has(counts, state)) { counts[state] = 0; states.push(state); }
      counts[state]++;
      var q = pu ? prevPeers[server + ' #' + str(p.id)] : undefined;
      var dReq = q ? delta(p.requests, q.requests) : null, dFail = q ? delta(p.fails, q.fails) : null;
      var errRate = dReq ? pct(dFail, dReq) : '–';
      var hs = hist(p.response_time, q ? q.response_time : null);
      var w = num(p.weight), cw = num(p.configured_weight);
      var weight = w != null && cw != null && w !== cw ? int(w) + ' (configured ' + int(cw) + ')' : int(w);
      var lt = num(p.least_time_ms);
      if (lt != null) weight += ' · ' + (Math.round(lt * 10) / 10) + ' ms';
      var hcs = obj(p.health_checks), health = '–', healthCls = 'mut', healthTitle = null;
      if (hasCheck && p.health_checks) {
        health = hcs.summary != null ? str(hcs.summary) : '–';
        healthCls = hcs.last_passed === false ? 'err' : '';
        healthTitle = 'checks ' + int(hcs.checks) + ', fails ' + int(hcs.fails) + ', turned unhealthy ' + int(hcs.unhealthy) + 'x';
      }
      var serverTitle = [p.name != null && str(p.name) !== server ? 'name ' + str(p.name) : null, 'id ' + str(p.id),
        'admin state ' + (p.admin_state != null ? str(p.admin_state) : '–')].filter(Boolean).join(', ');
      var rowCls = state === 'up' ? null : state === 'draining' || state === 'checking' ? 'amber' : state === 'down' ? null : 'bad';
      return h('tr', {'data-upstream': name, 'data-server': server, 'data-state': state, class: rowCls}, [
        td(server + (p.backup === true ? ' (backup)' : ''), null, serverTitle),
        h('td', null, h('span', {class: 'pill ' + stateClass(state)}, state)),
        td(weight, 'n' + (w !== cw && w != null && cw != null ? ' warn' : '')),
        td(int(p.active), 'n'),
        td(rateStr(q ? rate(p.requests, q.requests) : null), 'n', 'total ' + int(p.requests)),
        td(errRate, 'n' + (dFail ? ' err' : ''), 'fails total ' + int(p.fails) + ', unavailable ' + int(p.unavail) + 'x'),
        td(qStr(hs, 0.5), 'n'), td(qStr(hs, 0.99), 'n'),
        td(health, healthCls, healthTitle),
        eventsCell(p.history)
      ]);
    });
    states.sort(function (a, b) {
      var x = ORDER.indexOf(a), y = ORDER.indexOf(b);
      return (x < 0 ? 99 : x) - (y < 0 ? 99 : y) || (a < b ? -1 : a > b ? 1 : 0);
    });
    var cnt = peers.length + (peers.length === 1 ? ' peer' : ' peers') +
      (states.length ? ': ' + states.map(function (s) { return counts[s] + ' ' + (s || '?'); }).join(', ') : '');
    var bad = peers.length > 0 && !counts.up;
    var algo = u.algorithm != null ? str(u.algorithm) : '';
    var body = peers.length ? h('div', {class: 'wrap'}, h('table', null, [
      th(['server', 'state', '#weight', '#active', '#req/s', '#errors', '#p50', '#p99', 'health', 'last events']),
      h('tbody', null, rows)
    ])) : h('div', {class: 'empty'}, 'no peers');
    return h('section', {class: 'card', 'data-upstream-card': name}, [
      h('div', {class: 'ch'}, [
        h('span', {class: 'nm'}, name),
        h('span', {class: 'mut'}, has(ALGO, algo) ? ALGO[algo] : algo.replace(/_/g, ' ') || '–'),
        h('span', {class: 'mut'}, checkSummary(hc)),
        h('span', {class: 'cnt' + (bad ? ' err' : '')}, cnt)
      ]),
      body
    ]);
  }

  function zonesTable(zones, pz) {
    var names = Object.keys(zones).sort();
    if (!names.length) return h('div', {class: 'card'}, h('div', {class: 'empty'}, 'no server blocks'));
    var rows = names.map(function (n) {
      var z = obj(zones[n]), r = obj(z.responses), q = pz && has(pz, n) ? obj(pz[n]) : null, qr = q ? obj(q.responses) : {};
      var tot = num(r.total) != null ? r.total : z.requests, ptot = q ? (num(qr.total) != null ? qr.total : q.requests) : null;
      var d5 = q ? delta(r['5xx'], qr['5xx']) : null, dT = q ? delta(tot, ptot) : null;
      var hs = hist(z.request_time, q ? q.request_time : null);
      return h('tr', {'data-zone': n}, [
        td(n), td(rateStr(q ? rate(z.requests, q.requests) : null), 'n'), td(int(z.requests), 'n'),
        td(int(r['2xx']), 'n'), td(int(r['3xx']), 'n'), td(int(r['4xx']), 'n'), td(int(r['5xx']), 'n' + (r['5xx'] > 0 ? ' warn' : '')),
        td(dT ? pct(d5, dT) : '–', 'n' + (d5 ? ' err' : '')),
        td(qStr(hs, 0.5), 'n'), td(qStr(hs, 0.99), 'n')
      ]);
    });
    return h('div', {class: 'card'}, h('div', {class: 'wrap'}, h('table', null, [
      th(['server block', '#req/s', '#requests', '#2xx', '#3xx', '#4xx', '#5xx', '#5xx in window', '#p50', '#p99']),
      h('tbody', null, rows)
    ])));
  }

  function render(doc, at) {
    dt = prev && at > prevAt ? (at - prevAt) / 1000 : null;
    var p = prev, frag = document.createDocumentFragment();
    renderSummary(doc, p, frag);
    var ups = obj(doc.upstreams), pups = p ? obj(p.upstreams) : null, names = Object.keys(ups).sort();
    add(frag, h('h2', null, 'Upstreams'));
    if (!names.length) add(frag, h('div', {class: 'card'}, h('div', {class: 'empty'}, 'no upstreams configured')));
    names.forEach(function (n) { add(frag, upstreamCard(n, ups[n], pups && has(pups, n) ? pups[n] : null)); });
    var sups = obj(doc.stream && doc.stream.upstreams), psups = p && p.stream ? obj(p.stream.upstreams) : null;
    var snames = Object.keys(sups).sort();
    if (snames.length) {
      add(frag, h('h2', null, 'Stream upstreams (TCP/UDP)'));
      snames.forEach(function (n) { add(frag, upstreamCard(n, sups[n], psups && has(psups, n) ? psups[n] : null)); });
    }
    add(frag, h('h2', null, 'Server blocks'));
    add(frag, zonesTable(obj(doc.server_zones), p ? obj(p.server_zones) : null));
    var app = $('app');
    while (app.firstChild) app.removeChild(app.firstChild);
    app.appendChild(frag);
  }

  function setBanner(msg) {
    var b = $('banner');
    if (msg) { b.textContent = 'status unavailable: ' + msg; b.hidden = false; } else { b.hidden = true; b.textContent = ''; }
    var u = $('updated');
    u.className = 'upd' + (msg ? ' stale' : '');
    if (msg && lastOk) u.textContent = 'updated ' + hms(new Date(lastOk)) + ' (stale)';
    else if (msg) u.textContent = 'no data yet';
  }

  function poll() {
    var ctl = typeof AbortController === 'function' ? new AbortController() : null;
    var timer = ctl ? setTimeout(function () { ctl.abort(); }, TIMEOUT_MS) : 0;
    var opts = {cache: 'no-store'};
    if (ctl) opts.signal = ctl.signal;
    fetch(SRC, opts)
      .then(function (r) {
        if (!r.ok) throw new Error('HTTP ' + r.status + (r.statusText ? ' ' + r.statusText : ''));
        return r.json();
      })
      .then(function (doc) {
        if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new Error('response is not a JSON object');
        var at = Date.now();
        try { render(doc, at); } catch (e) { throw new Error('cannot render: ' + (e && e.message ? e.message : e)); }
        prev = doc; prevAt = at; lastOk = at;
        setBanner(null);
        $('updated').textContent = 'updated ' + hms(new Date(at));
      })
      .catch(function (e) {
        setBanner(e && e.name === 'AbortError' ? 'no answer within ' + TIMEOUT_MS / 1000 + ' s'
          : e && e.message ? e.message : String(e));
      })
      .then(function () { clearTimeout(timer); setTimeout(poll, POLL_MS); });
  }
  poll();
})();
</script>
</body>
</html>
"""#
}
