"""Printed and exported outputs: the client feedback summary and supervision packet (PDF, fpdf2) and the
Excel export. Import the submodules directly (``caseload.reports.client_summary`` ...); nothing heavy is
imported here, so the Excel export does not pay for the PDF stack."""
