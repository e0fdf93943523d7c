import streamlit as st

st.title("caseload")
