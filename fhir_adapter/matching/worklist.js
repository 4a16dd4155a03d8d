// The screening work list (fhir_adapter/matching/worklist.py): renders the JSON in #screen-data.
// Every text is inserted with textContent, never as markup.
(function(){
'use strict';
var D = JSON.parse(document.getElementById('screen-data').textContent);
var S = D.strings, C = D.criteria;
var VERDICTS = ['eligible','needs-review','ineligible'];
var SYMBOL = {p:'\u2713', f:'\u2717', u:'?', r:'\u2026', '-':''};
var WORD = {p:'passes', f:'fails', u:'unknown', r:'to review', '-':'not evaluated'};
var shown = [true,true,true], sortBy = 'rank', query = '', page = 0, size = 100;
function el(tag, attrs, text){
  var e = document.createElement(tag);
  if (attrs) for (var k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined && text !== null) e.textContent = text;
  return e;
}
function counts(){
  var n = [0,0,0];
  D.patients.forEach(function(p){ n[p.v]++; });
  return n;
}
function rows(){
  var q = query.toLowerCase();
  var list = D.patients.filter(function(p){
    return shown[p.v] && (!q || p.p.toLowerCase().indexOf(q) >= 0 || S[p.r].toLowerCase().indexOf(q) >= 0);
  });
  if (sortBy === 'open') list.sort(function(a,b){ return a.o.length - b.o.length || a.v - b.v || (a.p < b.p ? -1 : 1); });
  else if (sortBy === 'patient') list.sort(function(a,b){ return a.p < b.p ? -1 : a.p > b.p ? 1 : 0; });
  return list;
}
function header(){
  var thead = document.getElementById('head');
  thead.textContent = '';
  var groups = el('tr', {'class':'groups'});
  groups.appendChild(el('th', {'class':'s s0', rowspan:'2', scope:'col'}, 'patient'));
  groups.appendChild(el('th', {'class':'s s1', rowspan:'2', scope:'col'}, 'verdict'));
  groups.appendChild(el('th', {'class':'s s2', rowspan:'2', scope:'col'}, 'why / open items'));
  var inc = C.filter(function(c){ return c.kind === 'inclusion'; }).length;
  if (inc) groups.appendChild(el('th', {colspan:String(inc), 'class':'g-inclusion', scope:'colgroup'}, 'inclusion criteria'));
  if (C.length - inc) groups.appendChild(el('th', {colspan:String(C.length - inc), 'class':'g-exclusion', scope:'colgroup'}, 'exclusion criteria'));
  var labels = el('tr');
  C.forEach(function(c){
    var th = el('th', {'class':'c' + (c.kind === 'inclusion' ? '' : ' g-exclusion'), scope:'col',
      title: c.id + ' (' + c.kind + (c.computable ? '' : ', not computable') + '): ' + c.text}, c.label);
    labels.appendChild(th);
  });
  thead.appendChild(groups);
  thead.appendChild(labels);
}
function body(){
  var list = rows(), tbody = document.getElementById('body');
  var pages = Math.max(1, Math.ceil(list.length / size));
  if (page >= pages) page = pages - 1;
  tbody.textContent = '';
  var frag = document.createDocumentFragment();
  list.slice(page * size, page * size + size).forEach(function(p){
    var tr = el('tr', {'data-verdict': VERDICTS[p.v]});
    var name = el('td', {'class':'s s0', title:p.p});
    var open = el('button', {type:'button'}, p.p.replace(/^Patient\//, ''));
    open.addEventListener('click', function(){ detail(p); });
    name.appendChild(open);
    tr.appendChild(name);
    tr.appendChild(el('td', {'class':'s s1 v' + p.v}, VERDICTS[p.v]));
    var why = el('td', {'class':'s s2'}, S[p.r]);
    if (p.o.length) why.appendChild(el('div', {'class':'open'}, p.o.length + ' open item' + (p.o.length > 1 ? 's' : '')));
    tr.appendChild(why);
    for (var i = 0; i < p.k.length; i++) {
      var k = p.k.charAt(i);
      tr.appendChild(el('td', {'class':'cell ' + k, title: C[i].id + ': ' + WORD[k]}, SYMBOL[k]));
    }
    frag.appendChild(tr);
  });
  tbody.appendChild(frag);
  document.getElementById('shown').textContent = list.length + ' of ' + D.patients.length + ' patients shown';
  document.getElementById('page').textContent = 'page ' + (page + 1) + ' of ' + pages;
  document.getElementById('prev').disabled = page === 0;
  document.getElementById('next').disabled = page >= pages - 1;
}
function detail(p){
  var box = document.getElementById('detail');
  box.textContent = '';
  box.hidden = false;
  box.appendChild(el('h2', null, p.p + ': ' + VERDICTS[p.v]));
  box.appendChild(el('p', null, S[p.r]));
  if (p.h) box.appendChild(el('p', null, 'cohorts: ' + p.h.join(', ')));
  var table = el('table'), head = el('tr');
  ['criterion','result','reason','evidence'].forEach(function(h){ head.appendChild(el('th', {scope:'col'}, h)); });
  table.appendChild(head);
  p.d.forEach(function(d){
    var c = C[d[0]], k = p.k.charAt(d[0]);
    var tr = el('tr');
    tr.appendChild(el('td', {title:c.text}, c.id + ' (' + c.kind + ') ' + c.label));
    tr.appendChild(el('td', {'class':k}, WORD[k]));
    tr.appendChild(el('td', null, S[d[1]]));
    var ev = el('td');
    d[2].forEach(function(e){
      var value = e[1] === null ? '' : (typeof e[1] === 'number' ? String(e[1]) : S[e[1]]);
      var parts = [S[e[0]], (value + ' ' + S[e[2]]).trim(), S[e[3]], S[e[4]]].filter(function(x){ return x; });
      ev.appendChild(el('div', null, parts.join(' \u00b7 ')));
    });
    tr.appendChild(ev);
    table.appendChild(tr);
  });
  box.appendChild(table);
  var close = el('button', {type:'button'}, 'close');
  close.addEventListener('click', function(){ box.hidden = true; });
  box.appendChild(close);
  box.scrollIntoView();
}
function controls(){
  var n = counts(), bar = document.getElementById('counts');
  VERDICTS.forEach(function(v, i){
    var b = el('button', {type:'button', 'class':'v' + i, 'aria-pressed':'true', 'data-verdict':v}, v + ': ' + n[i]);
    b.addEventListener('click', function(){
      shown[i] = !shown[i];
      b.setAttribute('aria-pressed', String(shown[i]));
      page = 0; body();
    });
    bar.appendChild(b);
  });
  document.getElementById('sort').addEventListener('change', function(e){ sortBy = e.target.value; page = 0; body(); });
  document.getElementById('search').addEventListener('input', function(e){ query = e.target.value; page = 0; body(); });
  document.getElementById('prev').addEventListener('click', function(){ page--; body(); });
  document.getElementById('next').addEventListener('click', function(){ page++; body(); });
}
document.getElementById('considered').textContent = D.considered;
controls(); header(); body();
document.body.setAttribute('data-ready', 'true');
})();
