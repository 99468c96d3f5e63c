"""Strata's deployment, as code: CloudFormation generated from the resource definitions.

    resources.json   the stateful resources (tables, bucket, queues, KMS key, secrets); also
                     what chalicelib/local/provision.py creates on moto
    deploy.json      per Lambda function: the queue it consumes, git clones, its IAM grants
    template.py      resources.json + deploy.json + .chalice/config.json -> the merge template
    iam.py           the per-function IAM policies of that template
    package.py       `python -m infra.package --stage dev`: `chalice package` on the Lambda
                     runtime's Python, with the merge template (what `make package` runs)

Deploy-time code only: nothing in chalicelib imports it and it is not in the Lambda package.
"""
