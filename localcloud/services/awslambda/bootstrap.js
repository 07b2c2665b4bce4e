// The local cloud's Node.js Lambda runtime: one execution environment per process.
//
// It speaks the warm-worker protocol of the local cloud's Lambda service on stdin/stdout
// (an init line, then one line per invocation; one JSON answer line each) and behaves as
// AWS's Node.js runtimes do where a function can tell:
//   * console.* writes one log record per call, `<ISO time>\t<requestId>\t<LEVEL>\t<message>\n`
//     (multi-line messages stay one record; TEXT or JSON format as configured);
//   * the AWS SDK for JavaScript v3 is available without bundling it (the runtime's copy
//     is found after the function's own node_modules and its layers, for require and import);
//   * a handler error answers {errorType, errorMessage, trace} and logs "Invoke Error";
//   * HTTPS calls to AWS endpoints (an SDK v2, a CloudFormation ResponseURL without its
//     port) reach the local cloud, and the local cloud's public names
//     (`*.localhost.localstack.cloud`, in queue URLs and API endpoints) resolve offline.
'use strict';

const CONFIG = __LOCALCLOUD_CONFIG__;

const fs = require('fs');
const dns = require('dns');
const http = require('http');
const https = require('https');
const net = require('net');
const path = require('path');
const readline = require('readline');
const util = require('util');
const Module = require('module');
const { pathToFileURL } = require('url');

// --- output channels ---------------------------------------------------------------
// fd 1 carries the protocol. Whatever the function writes to stdout goes to stderr, which
// the local cloud captures as the function's log; a log record is one line there, marked.
const writeSync = fs.writeSync;
const protocolAnswer = (answer) => writeSync.call(fs, 1, JSON.stringify(answer) + '\n');
fs.writeSync = function (fd, ...rest) {
  return writeSync.call(fs, fd === 1 ? 2 : fd, ...rest);
};
process.stdout.write = process.stderr.write.bind(process.stderr);

function writeLogRecord(message, timestampMs) {
  writeSync.call(fs, 2, CONFIG.recordMarker + JSON.stringify({ t: timestampMs, m: message }) + '\n');
}

// --- console, as AWS's runtime patches it ------------------------------------------
const REQUEST_ID = Symbol.for('aws.lambda.runtime.requestId');
const LEVELS = { TRACE: 1, DEBUG: 2, INFO: 3, WARN: 4, ERROR: 5, FATAL: 6 };
const jsonFormat = (process.env.AWS_LAMBDA_LOG_FORMAT || '').toUpperCase() === 'JSON';
const minimumLevel = jsonFormat ? (LEVELS[(process.env.AWS_LAMBDA_LOG_LEVEL || '').toUpperCase()] || LEVELS.TRACE)
  : LEVELS.TRACE;

function errorFields(error) {
  return {
    errorType: error?.constructor?.name ?? 'UnknownError',
    errorMessage: error.message,
    stackTrace: typeof error.stack === 'string' ? error.stack.split('\n') : [],
  };
}

function jsonRecord(time, requestId, level, params) {
  const record = { timestamp: time, level, requestId };
  if (params.length === 1) {
    record.message = params[0];
    try {
      return JSON.stringify(record, (_key, value) => (value instanceof Error
        ? Object.assign(errorFields(value), value) : value));
    } catch (_) {
      record.message = util.format(params[0]);
      return JSON.stringify(record);
    }
  }
  record.message = util.format(...params);
  const error = params.find((param) => param instanceof Error);
  return JSON.stringify(error ? Object.assign(record, errorFields(error)) : record);
}

function log(level, params) {
  if (LEVELS[level] < minimumLevel) return;
  const now = new Date();
  const time = now.toISOString();
  const requestId = globalThis[REQUEST_ID];
  const message = jsonFormat ? jsonRecord(time, requestId, level, params)
    : `${time}\t${requestId}\t${level}\t${util.format(...params)}\n`;
  writeLogRecord(message, now.getTime());
}

for (const [method, level] of [['trace', 'TRACE'], ['debug', 'DEBUG'], ['info', 'INFO'], ['log', 'INFO'],
  ['warn', 'WARN'], ['error', 'ERROR'], ['fatal', 'FATAL']]) {
  console[method] = (...params) => log(level, params);
}

// --- the runtime's AWS SDK ------------------------------------------------------------
// After the function's own node_modules and its layers, as on AWS (NODE_PATH for require;
// a resolve hook for import, which ignores NODE_PATH).
if (CONFIG.sdkNodeModules) {
  process.env.NODE_PATH = [...(process.env.NODE_PATH || '').split(path.delimiter).filter(Boolean),
    CONFIG.sdkNodeModules].join(path.delimiter);
  Module._initPaths();
  if (typeof Module.register === 'function') {
    const fallbackParent = JSON.stringify(pathToFileURL(path.join(CONFIG.sdkNodeModules, '..', 'index.js')).href);
    const hook = `export async function resolve(specifier, context, next) {
      try { return await next(specifier, context); } catch (error) {
        if (error?.code !== 'ERR_MODULE_NOT_FOUND' || /^(\\.|\\/|[a-zA-Z][a-zA-Z+.-]*:)/.test(specifier)) throw error;
        return next(specifier, { ...context, parentURL: ${fallbackParent} });
      }
    }`;
    Module.register('data:text/javascript,' + encodeURIComponent(hook));
  }
}

// --- HTTPS to AWS, or to the local cloud without its port, reaches the local cloud ------
const endpoint = new URL(process.env.AWS_ENDPOINT_URL || 'http://127.0.0.1:4566');
const localHosts = new Set(['127.0.0.1', 'localhost', endpoint.hostname, ...CONFIG.gatewayHostnames]);
const isAwsHost = (host) => /\.amazonaws\.com(\.cn)?$/.test(host);
const httpsRequest = https.request;

function toLocalCloud(options) {
  const host = options.hostname || (options.host || '').split(':')[0];
  const port = String(options.port || '');
  if (!(isAwsHost(host) || (localHosts.has(host) && (port === '' || port === '443')))) return null;
  const headers = { ...(options.headers || {}) };
  if (isAwsHost(host) && !Object.keys(headers).some((name) => name.toLowerCase() === 'host')) headers.host = host;
  const local = { ...options, protocol: 'http:', hostname: endpoint.hostname, host: undefined,
    port: endpoint.port || 80, headers, agent: undefined, servername: undefined };
  delete local._defaultAgent;
  return local;
}

https.request = function (input, options, callback) {
  let merged;
  if (typeof input === 'string' || input instanceof URL) {
    const url = new URL(input);
    if (typeof options === 'function') { callback = options; options = {}; }
    merged = { protocol: url.protocol, hostname: url.hostname, port: url.port, path: url.pathname + url.search,
      ...(options || {}) };
  } else {
    callback = typeof options === 'function' ? options : callback;
    merged = input || {};
  }
  const local = toLocalCloud(merged);
  return local ? http.request(local, callback) : httpsRequest.apply(https, arguments);
};
// The local cloud's public names resolve to it without public DNS (the SDK sends SQS calls
// to the host of the QueueUrl, which carries that name).
const isGatewayName = (host) => CONFIG.gatewayHostnames.some((name) => host === name || host.endsWith('.' + name));
const dnsLookup = dns.lookup;
dns.lookup = function (hostname, options, callback) {
  if (typeof options === 'function') { callback = options; options = {}; }
  if (typeof options === 'number') options = { family: options };
  if (typeof hostname !== 'string' || !isGatewayName(hostname)) return dnsLookup.call(dns, hostname, options, callback);
  const address = net.isIP(endpoint.hostname) ? endpoint.hostname : '127.0.0.1';
  const family = net.isIP(address);
  process.nextTick(() => (options && options.all ? callback(null, [{ address, family }]) : callback(null, address, family)));
  return {};
};

// Calls to the local cloud carry the invocation's recursion depth, as ministack's own
// SDK shims do, so a function that invokes itself in a loop is stopped as on AWS.
const httpRequest = http.request;
http.request = function (...args) {
  const request = httpRequest.apply(http, args);
  const depth = process.env[CONFIG.depthEnv];
  if (depth && request.host === endpoint.hostname && !request.headersSent) request.setHeader(CONFIG.depthHeader, depth);
  return request;
};
https.get = function (...args) {
  const request = https.request(...args);
  request.end();
  return request;
};

// --- the handler ----------------------------------------------------------------------
async function loadHandler(codeDir, modulePath, handlerName) {
  const base = path.resolve(codeDir, modulePath);
  const candidates = ['.js', '.mjs', '.cjs'].map((extension) => base + extension).filter((file) => fs.existsSync(file));
  if (candidates.length === 0) {
    const error = new Error(`Cannot find module '${modulePath}'`);
    error.name = 'Runtime.ImportModuleError';
    throw error;
  }
  let loaded;
  try {
    loaded = candidates[0].endsWith('.mjs') ? await import(pathToFileURL(candidates[0]).href) : require(candidates[0]);
  } catch (error) {
    if (error.code !== 'ERR_REQUIRE_ESM' && error.code !== 'ERR_REQUIRE_ASYNC_MODULE') throw error;
    loaded = await import(pathToFileURL(candidates[0]).href);
  }
  const handler = handlerName.split('.').reduce((object, key) => object?.[key], loaded)
    ?? loaded?.default?.[handlerName];
  if (typeof handler !== 'function') {
    const error = new Error(`${modulePath}.${handlerName} is undefined or not exported`);
    error.name = 'Runtime.HandlerNotFound';
    throw error;
  }
  return handler;
}

// The answer to an invocation whose handler failed. The environment lives on, as on AWS:
// the answer is an "ok" one (a worker that answers "error" is replaced) carrying the error
// payload, which the local cloud returns as the function's error.
function errorAnswer(error) {
  const native = error instanceof Error || (error && typeof error.stack === 'string');
  const errorType = native ? error.name : typeof error;
  const errorMessage = native ? error.message : String(error);
  const trace = native && typeof error.stack === 'string' ? error.stack.split('\n') : [];
  return { status: 'ok', result: null, aws_error: { errorType, errorMessage, trace } };
}

function logInvokeError(error) {
  const native = error instanceof Error;
  const described = native ? Object.assign({ errorType: error.name, errorMessage: error.message, code: error.code },
    error, { stack: typeof error.stack === 'string' ? error.stack.split('\n') : error.stack }) : error;
  console.error('Invoke Error', '\t' + JSON.stringify(described));
}

let handler = null;
let invocation = null; // {settle} of the invocation in flight

function invoke(message) {
  const event = message.event;
  const ctx = message.ctx || {};
  globalThis[REQUEST_ID] = ctx.request_id || '';
  for (const [name, value] of [['_X_AMZN_TRACE_ID', ctx.trace_id], [CONFIG.depthEnv, ctx.depth]]) {
    if (value === undefined || value === null) delete process.env[name]; else process.env[name] = String(value);
  }
  const durable = ctx.durable || {};
  for (const name of CONFIG.durableEnv) {
    if (name in durable) process.env[name] = String(durable[name]); else delete process.env[name];
  }
  const deadline = Date.now() + Number(ctx.timeout_ms || 3000);
  let settled = false;
  const settle = (error, result) => {
    if (settled) return;
    settled = true;
    invocation = null;
    if (error !== undefined && error !== null) {
      logInvokeError(error);
      protocolAnswer(errorAnswer(error));
    } else {
      protocolAnswer({ status: 'ok', result: result === undefined ? null : result });
    }
  };
  invocation = { settle };
  const context = {
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME || '',
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION || '$LATEST',
    invokedFunctionArn: ctx.invoked_function_arn || process.env._LAMBDA_FUNCTION_ARN || '',
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE || '128',
    awsRequestId: ctx.request_id || '',
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME || '',
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME || '',
    identity: undefined,
    clientContext: undefined,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: (error, result) => settle(error, result),
    succeed: (result) => settle(null, result),
    fail: (error) => settle(error || new Error('fail')),
  };
  try {
    const returned = handler(event, context, (error, result) => settle(error, result));
    if (returned && typeof returned.then === 'function') {
      returned.then((result) => settle(null, result), (error) => settle(error ?? new Error('undefined')));
    } else if (handler.length < 3) {
      settle(null, returned);
    }
  } catch (error) {
    settle(error);
  }
}

for (const event of ['uncaughtException', 'unhandledRejection']) {
  process.on(event, (error) => {
    if (invocation) invocation.settle(error instanceof Error ? error : new Error(String(error)));
    else console.error(error);
  });
}

const lines = readline.createInterface({ input: process.stdin, terminal: false });
let initialised = false;
lines.on('line', async (line) => {
  let message;
  try {
    message = JSON.parse(line);
  } catch (error) {
    protocolAnswer({ status: 'error', error: 'malformed request: ' + error.message });
    return;
  }
  if (initialised) {
    invoke(message);
    return;
  }
  initialised = true;
  Object.assign(process.env, message.env || {});
  process.env.LAMBDA_TASK_ROOT = message.code_dir;
  process.env.AWS_LAMBDA_FUNCTION_NAME = message.function_name || process.env.AWS_LAMBDA_FUNCTION_NAME || '';
  process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE = String(message.memory || process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE
    || '128');
  process.env._LAMBDA_FUNCTION_ARN = message.arn || process.env._LAMBDA_FUNCTION_ARN || '';
  process.env.AWS_LAMBDA_LOG_GROUP_NAME = process.env.AWS_LAMBDA_LOG_GROUP_NAME
    || '/aws/lambda/' + process.env.AWS_LAMBDA_FUNCTION_NAME;
  process.env.AWS_EXECUTION_ENV = process.env.AWS_EXECUTION_ENV || 'AWS_Lambda_' + (CONFIG.runtime || 'nodejs');
  try {
    handler = await loadHandler(message.code_dir, message.module, message.handler);
    protocolAnswer({ status: 'ready', cold: true });
  } catch (error) {
    console.error(`${error.name}: ${error.message}`);
    protocolAnswer({ status: 'error', error: `${error.name}: ${error.message}` });
  }
});
lines.on('close', () => process.exit(0));
