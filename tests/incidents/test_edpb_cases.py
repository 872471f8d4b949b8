"""Tocsin's advice against the EDPB's conclusions in its Guidelines 01/2021 on Examples
regarding Personal Data Breach Notification (version 2.0, adopted 14 December 2021).

One test per example case a SaaS operator can meet. Each encodes the facts of the case as
ENISA 2013 inputs, AVM Up in the controller's seat (the guidelines' examples are controllers'
decisions), and asserts the guidelines' conclusion: notification to the supervisory
authority (Art. 33(1)) yes or no, communication to the data subjects (Art. 34(1)) yes or no.
Citations give the case number and the section of version 2.0 where its "Mitigation and
obligations" conclusion stands (paragraph numbers where they are cited).
"""

from __future__ import annotations

from incidents import severity
from incidents.enums import CustomerRole
from incidents.severity import Recommendation, SeverityInputs

CONTROLLER = [CustomerRole.CONTROLLER]


def advise(inputs: SeverityInputs, *, nature: tuple[str, ...]) -> Recommendation:
    rec = severity.recommend(
        severity=severity.band(severity.score(inputs)),
        roles=CONTROLLER,
        inputs=inputs,
        nature=nature,
    )
    assert rec.notify_customer is False  # AVM Up's own processing: no customer to tell
    assert all("Art." in reason for reason in rec.reasons)  # every reason names its article
    return rec


def test_case_01_ransomware_with_proper_backup_and_without_exfiltration() -> None:
    """CASE No. 01 (section 2.1, paragraphs 16-25): data encrypted at rest with a
    state-of-the-art algorithm, key not compromised, no exfiltration, restored from backup
    within hours. Paragraph 25: unlikely to result in a risk; neither the SA nor the data
    subjects; documented under Art. 33(5)."""
    inputs = SeverityInputs(
        dpc=1.0, ei=1.0, cb_availability=0.25, malicious=True, persons=40, unintelligible=True
    )
    assert severity.band(severity.score(inputs)).value == "low"
    rec = advise(inputs, nature=("availability", "confidentiality"))
    assert (rec.notify_cnil, rec.notify_subjects) == (False, False)
    assert any("unintelligible" in r for r in rec.reasons)


def test_case_02_ransomware_without_proper_backup() -> None:
    """CASE No. 02 (section 2.2.2, Mitigation and obligations): ransomware, no exfiltration,
    no proper backup, data rebuilt by hand over days. Conclusion: notify the SA (loss of
    availability); no communication to the data subjects."""
    inputs = SeverityInputs(dpc=1.0, ei=1.0, cb_availability=0.5, malicious=True, persons=40)
    rec = advise(inputs, nature=("availability",))
    assert (rec.notify_cnil, rec.notify_subjects) == (True, False)


def test_case_04_ransomware_without_backup_and_with_exfiltration() -> None:
    """CASE No. 04 (section 2.4.2): the server is encrypted and the data (identity and
    financial data of customers) exfiltrated, no backup. Conclusion: notify the SA and
    communicate to the data subjects."""
    inputs = SeverityInputs(
        dpc=3.0, ei=1.0, cb_confidentiality=0.5, cb_availability=0.5, malicious=True, persons=5000
    )
    rec = advise(inputs, nature=("availability", "confidentiality"))
    assert (rec.notify_cnil, rec.notify_subjects) == (True, True)


def test_case_05_exfiltration_of_job_application_data_from_a_website() -> None:
    """CASE No. 05 (section 3.1.2): malware on a recruitment form exfiltrates the
    applications (identity, CVs, possibly sensitive data). Conclusion: notify the SA and
    communicate to the data subjects."""
    inputs = SeverityInputs(dpc=3.0, ei=1.0, cb_confidentiality=0.5, malicious=True, persons=213)
    rec = advise(inputs, nature=("confidentiality",))
    assert (rec.notify_cnil, rec.notify_subjects) == (True, True)


def test_case_06_exfiltration_of_hashed_passwords_from_a_website() -> None:
    """CASE No. 06 (section 3.2.2): password hashes made with a state-of-the-art salted
    algorithm are exfiltrated; the salt and the algorithm's secrets were not. Conclusion: the
    data is unintelligible: neither the SA nor the data subjects."""
    inputs = SeverityInputs(
        dpc=2.0, ei=0.5, cb_confidentiality=0.5, malicious=True, persons=1200, unintelligible=True
    )
    assert severity.band(severity.score(inputs)).value == "medium"  # the band alone said CNIL
    rec = advise(inputs, nature=("confidentiality",))
    assert (rec.notify_cnil, rec.notify_subjects) == (False, False)
    assert any("identifiability" in r and "Art. 33(1)" in r for r in rec.reasons)


def test_case_07_credential_stuffing_attack_on_a_banking_website() -> None:
    """CASE No. 07 (section 3.3.2): credential stuffing reaches customers' accounts and their
    financial data. Conclusion: notify the SA and communicate to the data subjects."""
    inputs = SeverityInputs(dpc=3.0, ei=1.0, cb_confidentiality=0.5, malicious=True, persons=2000)
    rec = advise(inputs, nature=("confidentiality",))
    assert (rec.notify_cnil, rec.notify_subjects) == (True, True)


def test_case_08_exfiltration_of_business_data_by_an_employee() -> None:
    """CASE No. 08 (section 4.1.2): an employee copies customer contact data during his
    notice period and uses it for a competing business. The controller cannot consider the
    risk low, having no reassurance about his intentions. Conclusion: notify the SA; no
    communication to the data subjects is required."""
    inputs = SeverityInputs(dpc=1.0, ei=1.0, cb_confidentiality=0.25, malicious=True, persons=800)
    assert severity.band(severity.score(inputs)).value == "low"  # 1.75: the band said "no"
    rec = advise(inputs, nature=("confidentiality",))
    assert (rec.notify_cnil, rec.notify_subjects) == (True, False)
    assert any("malicious" in r and "whatever the band (low)" in r for r in rec.reasons)


def test_case_09_accidental_transmission_of_data_to_a_trusted_third_party() -> None:
    """CASE No. 09 (section 4.2.2): an employee sends a customer list to a trusted partner
    bound by confidentiality, who deletes it at once. Conclusion: unlikely to result in a
    risk; neither the SA nor the data subjects (documented only)."""
    inputs = SeverityInputs(dpc=1.0, ei=1.0, cb_confidentiality=0.25, persons=100)
    rec = advise(inputs, nature=("confidentiality",))
    assert (rec.notify_cnil, rec.notify_subjects) == (False, False)
    assert any("register only" in r for r in rec.reasons)


def test_case_13_postal_mail_mistake_with_ordinary_data() -> None:
    """CASE No. 13 (section 6.1.2): two orders' documents (names, addresses, purchased items)
    are swapped and each reaches the other customer, who is asked to return them.
    Conclusion: neither the SA nor the data subjects."""
    inputs = SeverityInputs(dpc=1.0, ei=1.0, cb_confidentiality=0.25, persons=2)
    rec = advise(inputs, nature=("confidentiality",))
    assert (rec.notify_cnil, rec.notify_subjects) == (False, False)


def test_case_14_highly_confidential_personal_data_sent_by_mail_by_mistake() -> None:
    """CASE No. 14 (section 6.2.2): an e-mail carrying sensitive personal data is sent to the
    wrong recipients. Conclusion: notify the SA and communicate to the data subjects."""
    inputs = SeverityInputs(dpc=4.0, ei=1.0, cb_confidentiality=0.25, persons=60)
    rec = advise(inputs, nature=("confidentiality",))
    assert (rec.notify_cnil, rec.notify_subjects) == (True, True)


def test_case_17_identity_theft() -> None:
    """CASE No. 17 (section 7.1.1): a caller impersonating a customer obtains the customer's
    billing data and account details from the contact centre (data that enables identity
    fraud: the context raises the ENISA data class to financial). Conclusion: notify the SA
    and communicate to the data subject."""
    inputs = SeverityInputs(dpc=3.0, ei=1.0, cb_confidentiality=0.25, malicious=True, persons=1)
    rec = advise(inputs, nature=("confidentiality",))
    assert (rec.notify_cnil, rec.notify_subjects) == (True, True)


def test_case_18_email_exfiltration() -> None:
    """CASE No. 18 (section 7.2.1): an attacker takes over an employee's mailbox and
    exfiltrates invoices carrying customers' bank details, then uses them for fraud.
    Conclusion: notify the SA and communicate to the data subjects."""
    inputs = SeverityInputs(dpc=3.0, ei=1.0, cb_confidentiality=0.5, malicious=True, persons=300)
    rec = advise(inputs, nature=("confidentiality",))
    assert (rec.notify_cnil, rec.notify_subjects) == (True, True)
