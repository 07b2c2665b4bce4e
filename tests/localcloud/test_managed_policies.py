"""AWS managed policies are AWS's, readable by every account
(https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_managed-vs-inline.html#aws-managed-policies)."""

from __future__ import annotations

from .conftest import ACCOUNT_A, ACCOUNT_B


def test_every_account_reads_an_aws_managed_policy(aws):
    """AWS managed policies (account "aws") belong to no account: any root reads them
    (a cross-account refusal here broke reading CDK's AdministratorAccess)."""
    for account in (ACCOUNT_A, ACCOUNT_B):
        policy = aws("iam", account).get_policy(PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")["Policy"]
        assert policy["PolicyName"] == "AdministratorAccess"
