"""Organizations membership, as ministack's Organizations service keeps it."""

from __future__ import annotations


def organization_of(account: str) -> str | None:
    """The organization ``account`` is a member of on this local cloud, if any: ministack
    keeps each management account's organization and member accounts in its own scope."""
    from ministack.services import organizations

    for (manager, member), record in organizations._accounts.to_dict().items():
        if account in (member, record.get("Id")):
            org = organizations._orgs.get_scoped(manager, "", "self")
            if org:
                return org.get("Id")
    return None
