"""CDKTF stacks that govern the anonymization pipeline in Unity Catalog.

One stack per environment (``infra/config/<env>.yaml``): the isolated anonymized catalog and its read-only
binding to the development workspace, authoritative grants on both catalogs, the anonymization key in a
secret scope, column tags derived from the data contract, and the job that runs the ``anonymizer`` wheel.
Everything that can read production is declared here, so a review of this package is a review of access.
"""
