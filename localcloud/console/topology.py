"""What is deployed, per account and region, read through the AWS APIs: HTTP APIs and
their integrations, queues and their dead-letter queues, pipes, buses with their rules
and archives, state machines, functions and log groups, and the links between them
(across accounts and regions too). Nothing here knows a resource name: any app shows."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from localcloud.console import evidence
from localcloud.console.awsapi import Clients, error_text, parallel

ARN = re.compile(r"arn:aws:(?:sqs|events|states|lambda|logs):[a-z0-9-]*:\d{12}:[A-Za-z0-9_./:$#+=@-]+")
DELIVERS, DEAD_LETTER, ARCHIVES, LOGS, REFERENCES = "delivers", "dead-letter", "archives", "logs", "references"
ENRICHMENT = "enrichment"  # the label of a pipe's link to its enrichment


@dataclass
class Node:
    arn: str
    kind: str  # api | queue | pipe | bus | archive | rule | workflow | function | logs
    name: str
    account: str
    region: str
    info: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)  # label -> number, shown on the node


@dataclass(frozen=True)
class Link:
    source: str
    target: str
    kind: str  # DELIVERS | DEAD_LETTER | ARCHIVES | LOGS | REFERENCES
    label: str = ""


@dataclass
class Topology:
    scopes: list[tuple[str, str]]
    nodes: dict[str, Node] = field(default_factory=dict)
    links: list[Link] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # calls that failed (strict IAM may refuse some)

    def add(self, node: Node) -> Node:
        return self.nodes.setdefault(node.arn, node)

    def link(self, source: str, target: str, kind: str, label: str = "") -> None:
        if source and target:
            self.links.append(Link(source, target, kind, label))

    def outgoing(self, arn: str, *kinds: str) -> list[Link]:
        return [l for l in self.links if l.source == arn and (not kinds or l.kind in kinds) and l.target in self.nodes]

    def incoming(self, arn: str, *kinds: str) -> list[Link]:
        return [l for l in self.links if l.target == arn and (not kinds or l.kind in kinds) and l.source in self.nodes]

    def of_kind(self, kind: str) -> list[Node]:
        return [n for n in self.nodes.values() if n.kind == kind]

    def by_name(self, kind: str, name_or_arn: str, account: str, region: str) -> Node | None:
        return self.nodes.get(name_or_arn) or next(
            (n for n in self.of_kind(kind) if n.name == name_or_arn and (n.account, n.region) == (account, region)), None)


def log_group_arn(name: str, account: str, region: str) -> str:
    return f"arn:aws:logs:{region}:{account}:log-group:{name}"


def normal_arn(arn: str) -> str:
    """Log group ARNs come with and without the trailing ``:*``; one form in the graph."""
    return arn[:-2] if arn.startswith("arn:aws:logs:") and arn.endswith(":*") else arn


def queue_arn_of_url(url: str, region: str) -> str:
    account, name = url.rstrip("/").split("/")[-2:]
    return f"arn:aws:sqs:{region}:{account}:{name}"


def discover(clients: Clients, scopes: list[tuple[str, str]]) -> Topology:
    """Every resource of the console's kinds in ``scopes`` ((account, region) pairs)."""
    topology = Topology(scopes=list(scopes))
    for partial in parallel(lambda scope: _discover_scope(clients, *scope), scopes):
        topology.nodes.update(partial.nodes)
        topology.links.extend(partial.links)
        topology.errors.extend(partial.errors)
    return topology


def _discover_scope(clients: Clients, account: str, region: str) -> Topology:
    found = Topology(scopes=[(account, region)])
    for discover_kind in (_queues, _buses, _pipes, _functions, _workflows, _apis, _log_groups):
        try:
            discover_kind(found, clients, account, region)
        except Exception as error:  # noqa: BLE001 - one refused or failing call must not blank the page
            found.errors.append(f"{account}/{region} {discover_kind.__name__.strip('_')}: {error_text(error)}")
    return found


def _pages(call, key: str, token_key: str = "NextToken", **kwargs) -> list:
    items, token = [], None
    while True:
        page = call(**kwargs, **({token_key: token} if token else {}))
        items.extend(page.get(key, []))
        token = page.get(token_key)
        if not token:
            return items


def _queues(found: Topology, clients: Clients, account: str, region: str) -> None:
    sqs = clients("sqs", account, region)
    for url in _pages(sqs.list_queues, "QueueUrls"):
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        arn = attributes["QueueArn"]
        found.add(Node(arn, "queue", arn.rsplit(":", 1)[1], account, region, info={"url": url}, counts={
            "messages": int(attributes.get("ApproximateNumberOfMessages", 0)),
            "in flight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
            "delayed": int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
        }))
        if attributes.get("RedrivePolicy"):
            policy = json.loads(attributes["RedrivePolicy"])
            found.nodes[arn].info["max_receive_count"] = int(policy.get("maxReceiveCount", 0))
            found.link(arn, policy.get("deadLetterTargetArn"), DEAD_LETTER, f"after {policy.get('maxReceiveCount')} receives")


def _buses(found: Topology, clients: Clients, account: str, region: str) -> None:
    events = clients("events", account, region)
    for archive in _pages(events.list_archives, "Archives"):
        arn = f"arn:aws:events:{region}:{account}:archive/{archive['ArchiveName']}"
        found.add(Node(arn, "archive", archive["ArchiveName"], account, region,
                       info={"source": archive.get("EventSourceArn"), "state": archive.get("State")},
                       counts={"events": archive.get("EventCount", 0)}))
        found.link(archive.get("EventSourceArn"), arn, ARCHIVES)
    for bus in _pages(events.list_event_buses, "EventBuses"):
        rules = _pages(events.list_rules, "Rules", EventBusName=bus["Name"])
        if bus["Name"] == "default" and not rules:
            continue
        found.add(Node(bus["Arn"], "bus", bus["Name"], account, region))
        for rule in rules:
            found.add(Node(rule["Arn"], "rule", rule["Name"], account, region, info={
                "bus": bus["Name"], "pattern": rule.get("EventPattern"), "state": rule.get("State")}))
            found.link(bus["Arn"], rule["Arn"], DELIVERS)
            for target in _pages(events.list_targets_by_rule, "Targets", Rule=rule["Name"], EventBusName=bus["Name"]):
                found.link(rule["Arn"], normal_arn(target["Arn"]), DELIVERS)
                dead_letter = (target.get("DeadLetterConfig") or {}).get("Arn")
                found.link(rule["Arn"], dead_letter, DEAD_LETTER, "undeliverable events")


def _pipes(found: Topology, clients: Clients, account: str, region: str) -> None:
    pipes = clients("pipes", account, region)
    for listed in _pages(pipes.list_pipes, "Pipes"):
        pipe = pipes.describe_pipe(Name=listed["Name"])
        found.add(Node(pipe["Arn"], "pipe", pipe["Name"], account, region, info={
            "state": pipe.get("CurrentState"), "reason": pipe.get("StateReason"),
            "target_parameters": pipe.get("TargetParameters") or {}}))
        found.link(pipe.get("Source"), pipe["Arn"], DELIVERS)
        found.link(pipe["Arn"], pipe.get("Enrichment"), DELIVERS, ENRICHMENT)
        found.link(pipe["Arn"], pipe.get("Target"), DELIVERS)
        log_group = ((pipe.get("LogConfiguration") or {}).get("CloudwatchLogsLogDestination") or {}).get("LogGroupArn")
        found.link(pipe["Arn"], normal_arn(log_group or ""), LOGS)
        dead_letter = ((pipe.get("SourceParameters") or {}).get("SqsQueueParameters") or {}).get("DeadLetterConfig")
        found.link(pipe["Arn"], (dead_letter or {}).get("Arn"), DEAD_LETTER)


def _functions(found: Topology, clients: Clients, account: str, region: str) -> None:
    for function in _pages(clients("lambda", account, region).list_functions, "Functions", token_key="NextMarker"):
        arn = function["FunctionArn"]
        group = (function.get("LoggingConfig") or {}).get("LogGroup") or f"/aws/lambda/{function['FunctionName']}"
        found.add(Node(arn, "function", function["FunctionName"], account, region,
                       info={"log_group": group, "runtime": function.get("Runtime")}))
        found.link(arn, log_group_arn(group, account, region), LOGS)
        for value in ((function.get("Environment") or {}).get("Variables") or {}).values():
            for referenced in ARN.findall(value or ""):
                found.link(arn, normal_arn(referenced), REFERENCES, "named in its environment")


def _workflows(found: Topology, clients: Clients, account: str, region: str) -> None:
    states = clients("stepfunctions", account, region)
    for listed in _pages(states.list_state_machines, "stateMachines", token_key="nextToken"):
        machine = states.describe_state_machine(stateMachineArn=listed["stateMachineArn"])
        logging = machine.get("loggingConfiguration") or {}
        group = next((normal_arn(d["cloudWatchLogsLogGroup"]["logGroupArn"]) for d in logging.get("destinations", [])
                      if (d.get("cloudWatchLogsLogGroup") or {}).get("logGroupArn")), None)
        arn = machine["stateMachineArn"]
        found.add(Node(arn, "workflow", machine["name"], account, region, info={
            "type": machine.get("type"), "log_level": logging.get("level"), "log_group": group,
            "include_data": logging.get("includeExecutionData")}))
        found.link(arn, group, LOGS)
        for target, label in _definition_targets(machine.get("definition") or "{}", region, account):
            found.link(arn, target, DELIVERS, label)


def _definition_targets(definition: str, region: str, account: str) -> list[tuple[str, str]]:
    """(ARN, state name) of the functions, queues and buses a state machine's Task states call."""
    found: list[tuple[str, str]] = []

    def walk(states: dict) -> None:
        for name, state in (states or {}).items():
            resource, parameters = state.get("Resource", ""), state.get("Parameters") or state.get("Arguments") or {}
            if resource.startswith("arn:aws:lambda:"):
                found.append((resource, name))
            elif resource.startswith("arn:aws:states:::lambda:invoke"):
                function = parameters.get("FunctionName", "")
                found.append((function if function.startswith("arn:") else
                              f"arn:aws:lambda:{region}:{account}:function:{function}", name))
            elif resource.startswith("arn:aws:states:::sqs:sendMessage") and parameters.get("QueueUrl"):
                found.append((queue_arn_of_url(parameters["QueueUrl"], region), name))
            elif resource.startswith("arn:aws:states:::events:putEvents"):
                for entry in parameters.get("Entries") or []:
                    bus = entry.get("EventBusName", "default") if isinstance(entry, dict) else "default"
                    found.append((bus if bus.startswith("arn:") else f"arn:aws:events:{region}:{account}:event-bus/{bus}",
                                  name))
            walk(state.get("States"))
            walk((state.get("Iterator") or state.get("ItemProcessor") or {}).get("States"))
            for branch in state.get("Branches") or []:
                walk(branch.get("States"))

    try:
        walk(json.loads(definition).get("States"))
    except (ValueError, AttributeError):
        pass
    return [(arn.split(":$")[0], label) for arn, label in found]


def _apis(found: Topology, clients: Clients, account: str, region: str) -> None:
    apis = clients("apigatewayv2", account, region)
    for api in _pages(apis.get_apis, "Items"):
        arn = f"arn:aws:apigateway:{region}::/apis/{api['ApiId']}"
        found.add(Node(arn, "api", api.get("Name") or api["ApiId"], account, region,
                       info={"id": api["ApiId"], "protocol": api.get("ProtocolType"), "endpoint": api.get("ApiEndpoint")}))
        routes: dict[str, list[str]] = {}
        for route in _pages(apis.get_routes, "Items", ApiId=api["ApiId"]):
            routes.setdefault((route.get("Target") or "").replace("integrations/", ""), []).append(route["RouteKey"])
        for integration in _pages(apis.get_integrations, "Items", ApiId=api["ApiId"]):
            label = ", ".join(routes.get(integration["IntegrationId"], [])) + f" ({integration.get('IntegrationSubtype') or integration.get('IntegrationType')})"
            found.link(arn, _integration_target(integration, region, account), DELIVERS, label.strip())
        for stage in _pages(apis.get_stages, "Items", ApiId=api["ApiId"]):
            destination = (stage.get("AccessLogSettings") or {}).get("DestinationArn")
            found.link(arn, normal_arn(destination or ""), LOGS, f"access log ({stage['StageName']})")


def _integration_target(integration: dict, region: str, account: str) -> str:
    subtype, parameters = integration.get("IntegrationSubtype") or "", integration.get("RequestParameters") or {}
    if subtype.startswith("SQS-") and parameters.get("QueueUrl"):
        return queue_arn_of_url(parameters["QueueUrl"], region)
    if subtype.startswith("EventBridge-"):
        bus = parameters.get("EventBusName", "default")
        return bus if bus.startswith("arn:") else f"arn:aws:events:{region}:{account}:event-bus/{bus}"
    if subtype.startswith("StepFunctions-"):
        return parameters.get("StateMachineArn", "")
    uri = integration.get("IntegrationUri") or ""
    match = re.search(r"arn:aws:lambda:[^/]+?:function:[^/:]+", uri)
    return match.group(0) if match else ""


def _log_groups(found: Topology, clients: Clients, account: str, region: str) -> None:
    for group in _pages(clients("logs", account, region).describe_log_groups, "logGroups", token_key="nextToken"):
        arn = log_group_arn(group["logGroupName"], account, region)
        found.add(Node(arn, "logs", group["logGroupName"], account, region,
                       info={"retention_days": group.get("retentionInDays")},
                       counts={"bytes": group.get("storedBytes", 0)}))


def count_activity(clients: Clients, topology: Topology, since_ms: int) -> None:
    """Invocations and errors of each function, executions and failures of each workflow,
    since ``since_ms``, from their log groups (the local cloud publishes no CloudWatch
    metrics): a function writes one REPORT line per invocation and an error document
    (errorType) per failed one; a workflow logs its execution events."""
    def count(node: Node) -> tuple[Node, dict]:
        logs = clients("logs", node.account, node.region)
        try:
            if node.kind == "function":
                group = node.info["log_group"]
                return node, {
                    "invocations": sum(1 for e in evidence.read_log_events(logs, group, since_ms, '"REPORT RequestId"')
                                       if e.get("message", "").startswith("REPORT")),
                    "errors": sum(1 for e in evidence.read_log_events(logs, group, since_ms, '"errorType"')
                                  if "errorType" in (evidence.json_line(e.get("message", "")) or {})),
                }
            executions = evidence.executions(logs, node.info["log_group"], since_ms)
            return node, {"executions": len(executions), "failed": sum(
                1 for e in executions if e.outcome and e.outcome.get("type") != "ExecutionSucceeded")}
        except Exception as error:  # noqa: BLE001 - a missing log group means nothing ran yet
            if "ResourceNotFound" not in error_text(error):
                topology.errors.append(f"{node.account}/{node.region} counts of {node.name}: {error_text(error)}")
            return node, {}

    watched = [n for n in topology.of_kind("function")] + [n for n in topology.of_kind("workflow") if n.info.get("log_group")]
    for node, counts in parallel(count, watched):
        node.counts.update(counts)
