'use strict';
// A tiny JSON service: GET /healthz, GET /hello?name=...  Listens on $PORT (default 3000).
const http = require('node:http');

function handler(req, res) {
  const url = new URL(req.url, 'http://localhost');
  let status = 200;
  let body;
  if (req.method === 'GET' && url.pathname === '/healthz') {
    body = { status: 'ok' };
  } else if (req.method === 'GET' && url.pathname === '/hello') {
    body = { message: `hello ${url.searchParams.get('name') || 'world'}` };
  } else {
    status = 404;
    body = { error: 'not found' };
  }
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

if (require.main === module) {
  const port = Number(process.env.PORT || 3000);
  http.createServer(handler).listen(port, () => console.log(`node-service listening on :${port}`));
}

module.exports = { handler };
